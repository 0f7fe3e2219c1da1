"""The event writer's sender for connect: one idempotent producer, no transaction.

A source connector's commit is its source offset, stored only after Kafka acknowledged the
batch (and its dead letters), so a transaction would add nothing but a marker per batch: a
marker takes an offset, and connect's offsets (Kafka Connect's ``kafka_offset``, the end offsets
its operators compare with row counts) count records only. The producer is idempotent with
``acks=all``: an acknowledged batch is durable, once.

A producer that met an error Kafka does not retry (``MESSAGE_TOO_LARGE`` after the topic's limit
was lowered behind the worker's back, ``OUT_OF_ORDER_SEQUENCE_NUMBER``, ...) is replaced, once
however many tasks saw it fail, and counted in ``ndxp_producer_recycles_total{reason}``, as the
gateway's pool does (:mod:`services.core.kafka.producer_pool`).
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.core.config import KafkaSettings
from services.core.errors import NdxpError, PayloadTooLarge
from services.core.events.transactions import BeforeCommit, Outgoing, Placed
from services.core.kafka.errors import fatal_reason
from services.core.kafka.producer import (
    RECYCLES,
    Record,
    create_producer,
    send_batch,
    start_producer,
)
from services.core.kafka.record_limits import TopicLimits

log = logging.getLogger(__name__)


class DirectSender:
    """Sends batches with one idempotent producer; see the module docstring."""

    def __init__(self, kafka: KafkaSettings, limits: TopicLimits | None = None) -> None:
        self.kafka = kafka
        self.limits = limits or TopicLimits(kafka)
        self.producer: AIOKafkaProducer | None = None
        self._recycling = asyncio.Lock()

    async def start(self) -> DirectSender:
        self.producer = await start_producer(create_producer(self.kafka))
        return self

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed:
        """Send ``batch`` to ``topic``; each record's (partition, offset) once acknowledged."""
        if before_commit is not None:
            raise TypeError("a direct send has no commit to run anything before")
        producer = self.producer
        assert producer is not None  # noqa: S101 - start() comes first
        keys = batch.keys or [None] * len(batch.values)
        records = [
            Record(key, value, headers)
            for key, value, headers in zip(keys, batch.values, batch.headers, strict=True)
        ]
        try:
            written = await send_batch(producer, topic, records)
        except (NdxpError, KafkaError) as exc:
            if isinstance(exc, PayloadTooLarge):
                self.limits.forget(topic)  # lowered since it was read: read it again
            if reason := fatal_reason(exc):
                await self._recycle(producer, reason)
            raise
        return [(meta.partition, meta.offset) for meta in written]

    async def _recycle(self, broken: AIOKafkaProducer, reason: str) -> None:
        discarded = broken  # (the identity test below narrows ``broken`` for mypy)
        async with self._recycling:
            if self.producer is not broken:
                return
            self.producer = await start_producer(create_producer(self.kafka))
        RECYCLES.labels(reason).inc()
        log.warning("connect's records producer recycled: %s", reason)
        try:
            await discarded.stop()
        except Exception:
            log.warning("a discarded Kafka producer did not stop cleanly", exc_info=True)

    async def close(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()
