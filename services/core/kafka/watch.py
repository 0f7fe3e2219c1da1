"""What a client sees of the cluster, looked at in the background by every service.

One :class:`ClusterWatch` per service process keeps one admin connection and, every
``NDXP_KAFKA_WATCH_INTERVAL`` seconds, sends one metadata request: whether the cluster answers
(``ndxp_kafka_up``), how many of the brokers it lists the service can connect to
(``ndxp_kafka_brokers``), and, for every topic ndxp made, the partitions short of in-sync
replicas or without a leader; then asks each broker it reached how full its log directories are
(``ndxp_kafka_log_dir_*_bytes``: no broker metric says it). These are the client's side of the
broker's own JMX metrics: a broker can be healthy while the hub cannot reach it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from services.core.config import KafkaSettings
from services.core.kafka.log_dirs import DescribeLogDirsRequest, LogDir, log_dirs
from services.core.kafka.topics import is_hub_topic
from services.core.metrics import (
    KAFKA_BROKERS,
    KAFKA_LOG_DIR_TOTAL,
    KAFKA_LOG_DIR_USABLE,
    KAFKA_OFFLINE,
    KAFKA_UNDER_REPLICATED,
    KAFKA_UP,
    forget,
)
from services.core.tasks import cancel_requested

log = logging.getLogger(__name__)

_NO_LEADER = -1


@dataclass(frozen=True)
class ClusterView:
    """One look at the cluster: brokers reachable, and unhealthy partitions of ndxp's topics."""

    brokers: int
    under_replicated: Mapping[str, int]  # every ndxp topic, 0 where all is well
    offline: Mapping[str, int]
    log_dirs: Mapping[tuple[str, str], LogDir] = field(default_factory=dict)  # (broker, dir)


def partition_health(topics: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Per ndxp topic of a metadata response: partitions with fewer in-sync replicas than
    replicas, and partitions without a leader (an offline partition counts as both)."""
    under: dict[str, int] = {}
    offline: dict[str, int] = {}
    for topic in topics:
        name = topic["topic"]
        if not is_hub_topic(name):
            continue
        partitions = topic["partitions"]
        under[name] = sum(1 for p in partitions if len(p["isr"]) < len(p["replicas"]))
        offline[name] = sum(1 for p in partitions if p["leader"] == _NO_LEADER)
    return under, offline


@dataclass
class ClusterWatch:
    """The service's look at the cluster; :meth:`observe` updates its ``ndxp_kafka_*`` series."""

    settings: KafkaSettings
    bootstrap: str
    service: str
    timeout: float = 5.0
    _admin: AIOKafkaAdminClient | None = field(default=None, repr=False)
    _topics: set[str] = field(default_factory=set, repr=False)
    _log_dirs: set[tuple[str, str]] = field(default_factory=set, repr=False)

    async def observe(self) -> ClusterView | None:
        """Look once; None (and ``ndxp_kafka_up`` 0) if the cluster did not answer in time."""
        try:
            async with asyncio.timeout(self.timeout):
                view = await self._look()
        except (KafkaError, OSError, TimeoutError) as exc:
            if cancel_requested():  # told to stop as the look failed: not a cluster that went away
                raise asyncio.CancelledError from exc
            log.debug("kafka at %s did not answer: %r", self.bootstrap, exc)
            await self.close()  # a fresh connection next time: this one may be wedged
            self._export(None)
            return None
        self._export(view)
        return view

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()

    async def _look(self) -> ClusterView:
        if self._admin is None:
            options = {
                **self.settings.client_options(self.bootstrap),
                "request_timeout_ms": int(self.timeout * 1000),
            }
            admin = AIOKafkaAdminClient(**options)
            try:
                await admin.start()
            except BaseException:
                await admin.close()
                raise
            self._admin = admin
        client = self._admin._client
        # All topics (None), never creating one: the same request a describe sends.
        request = MetadataRequest(None, allow_auto_topic_creation=False)
        response = (await client.send(client.get_random_node(), request)).to_object()
        nodes = [broker["node_id"] for broker in response["brokers"]]
        reachable = [node for node in nodes if await client.ready(node)]
        under, offline = partition_health(response["topics"])
        disks: dict[tuple[str, str], LogDir] = {}
        for node in reachable:
            try:
                answer = (await client.send(node, DescribeLogDirsRequest())).to_object()
            except KafkaError:  # a broker older than 3.3 (no sizes), or one gone meanwhile
                continue
            disks |= {(str(node), path): size for path, size in log_dirs(answer).items()}
        return ClusterView(len(reachable), under, offline, disks)

    def _export(self, view: ClusterView | None) -> None:
        KAFKA_UP.labels(self.service).set(0 if view is None else 1)
        KAFKA_BROKERS.labels(self.service).set(0 if view is None else view.brokers)
        # Unknown while the cluster does not answer: the series go, rather than stay at their last
        # values; ndxp_kafka_up says why. A deleted topic's go too.
        topics = set() if view is None else set(view.under_replicated)
        for gone in self._topics - topics:
            for gauge in (KAFKA_UNDER_REPLICATED, KAFKA_OFFLINE):
                forget(gauge, self.service, gone)
        self._topics = topics
        disks = {} if view is None else view.log_dirs
        for broker, path in self._log_dirs - set(disks):
            for gauge in (KAFKA_LOG_DIR_TOTAL, KAFKA_LOG_DIR_USABLE):
                forget(gauge, self.service, broker, path)
        self._log_dirs = set(disks)
        for (broker, path), size in disks.items():
            KAFKA_LOG_DIR_TOTAL.labels(self.service, broker, path).set(size.total)
            KAFKA_LOG_DIR_USABLE.labels(self.service, broker, path).set(size.usable)
        if view is not None:
            for topic in topics:
                KAFKA_UNDER_REPLICATED.labels(self.service, topic).set(view.under_replicated[topic])
                KAFKA_OFFLINE.labels(self.service, topic).set(view.offline[topic])
