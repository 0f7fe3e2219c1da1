"""Subscriptions' committed offsets, read and written without a consumer of their own.

A stream served by a shared head reader (:mod:`services.gateway.subscriptions.heads`) holds no
Kafka consumer, yet it still commits its subscription's position and checks its epoch every
second (:mod:`services.gateway.subscriptions.stream`). It does both through one admin client per
replica, which sends the group's coordinator the same OffsetFetch and OffsetCommit requests a
consumer with partitions assigned by hand would (generation -1, no member id: no group
membership), with the epoch in the commit metadata (:mod:`services.gateway.subscriptions.cursor`).
Coordinators are remembered per group and looked up again after a ``NOT_COORDINATOR``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest

from services.core.config import KafkaSettings
from services.core.errors import Unavailable
from services.gateway.subscriptions.consumers import (
    EPOCH_PREFIX,
    KAFKA_TIMEOUT,
    Committed,
    bounded,
    epoch_of,
)

_NO_ERROR = 0


class GroupOffsets:
    """Committed offsets of subscription groups, over one lazily started admin client."""

    def __init__(self, settings: KafkaSettings, bootstrap: str) -> None:
        self.settings, self.bootstrap = settings, bootstrap
        self._admin: AIOKafkaAdminClient | None = None
        self._starting = asyncio.Lock()
        self._coordinators: dict[str, int] = {}

    async def committed(self, group_id: str, topic: str, partitions: Sequence[int]) -> Committed:
        """The group's committed offsets on ``partitions`` and its epoch; a partition without one
        is left out (a stream then starts with a consumer of its own, which reads its
        beginning as :meth:`SubscriptionConsumer.committed` does)."""
        request = OffsetFetchRequest(group_id, [(topic, list(partitions))])
        response = await self._send(group_id, request, "Kafka committed offsets")
        offsets: dict[int, int] = {}
        epoch = 0
        for _, found in response.topics:
            for partition, offset, metadata, error in found:
                self._check(error, group_id)
                if offset >= 0:
                    offsets[partition] = offset
                epoch = max(epoch, epoch_of(metadata))
        return Committed(offsets, epoch)

    async def commit(
        self, group_id: str, topic: str, offsets: Mapping[int, int], epoch: int
    ) -> None:
        if not offsets:
            return
        metadata = f"{EPOCH_PREFIX}{epoch}"
        entries = [(p, o, metadata) for p, o in sorted(offsets.items())]
        request = OffsetCommitRequest(
            group_id,
            OffsetCommitRequest.DEFAULT_GENERATION_ID,
            "",
            OffsetCommitRequest.DEFAULT_RETENTION_TIME,
            [(topic, entries)],
        )
        response = await self._send(group_id, request, "Kafka commit")
        for _, found in response.topics:
            for _, error in found:
                self._check(error, group_id)

    async def _send(self, group_id: str, request: Any, what: str) -> Any:
        async with bounded(what):
            admin = await self._started()
            node = self._coordinators.get(group_id)
            if node is None:
                node = await admin.find_coordinator(group_id)
                self._coordinators[group_id] = node
            try:
                return await admin._send_request(request, node)
            except Exception:
                self._coordinators.pop(group_id, None)  # moved, or the broker gone: ask again
                raise

    async def _started(self) -> AIOKafkaAdminClient:
        async with self._starting:
            if self._admin is None:
                admin = AIOKafkaAdminClient(**self.settings.client_options(self.bootstrap))
                await admin.start()
                self._admin = admin
            return self._admin

    def _check(self, error: int, group_id: str) -> None:
        """Raise what the coordinator answered (a retriable error as 503), forgetting the
        coordinator: ``NOT_COORDINATOR`` and its kin mean it moved."""
        if error != _NO_ERROR:
            self.forget(group_id)
            kind = for_code(error)
            if kind.retriable:
                raise Unavailable(f"Kafka group {group_id}: {kind.__name__}; retry")
            raise kind(f"group {group_id}")

    def forget(self, group_id: str) -> None:
        """Drop what is remembered of ``group_id`` (its stream ended)."""
        self._coordinators.pop(group_id, None)

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await asyncio.wait_for(admin.close(), KAFKA_TIMEOUT)
