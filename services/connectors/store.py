"""Connector state kept in compacted Kafka topics, as Kafka Connect keeps it: no database table.

- the configs topic: ``connector-<name>`` → ``{"config": {...}}`` (a tombstone deletes it),
  ``target-state-<name>`` → ``{"state": "PAUSED" | "STOPPED" | "RUNNING"}`` and
  ``restart-<name>`` → ``{"requested": <uuid>}`` (a restart asked of whichever worker runs it);
- the offsets topic: ``<name>`` → the source offset as JSON (a tombstone resets it);
- the status topic: ``<name>`` → ``{"state", "trace", "worker_id"}``, written by the worker
  running the connector, so every worker can answer ``GET /connectors/<name>/status``.

Every worker of a group reads each topic from its start and then follows it
(:meth:`TopicTable.start`), so each holds the same view a moment apart; a write waits for Kafka's
ack and is applied to the writer's view at once (read-your-writes). :meth:`TopicTable.sync` waits
until the view holds everything written before the call: a worker taking over a connector syncs
the offsets first, so it resumes exactly where the previous worker committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.core.config import KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.producer import Record, send_batch

log = logging.getLogger(__name__)

FETCH_MS: Final = 200
SYNC_SECONDS: Final = 30.0

Listener = Callable[[str], None]


class TopicTable:
    """A key → JSON table over a one-partition compacted topic, followed while started."""

    def __init__(self, settings: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self.settings, self.topic, self.producer = settings, topic, producer
        self.rows: dict[str, Any] = {}
        self.listeners: list[Listener] = []
        self._partition = TopicPartition(topic, 0)
        self._consumer: AIOKafkaConsumer | None = None
        self._follower: asyncio.Task[None] | None = None
        self._position = 0
        self._moved = asyncio.Condition()

    async def start(self) -> None:
        """Create the topic if needed, read it to its end, then follow it in the background."""
        spec = TopicSpec(self.topic, partitions=1, cleanup_policy="compact")
        await ensure_topic(self.settings, spec)
        consumer = create_consumer(self.settings)
        await consumer.start()
        self._consumer = consumer
        consumer.assign([self._partition])
        await consumer.seek_to_beginning(self._partition)
        await self._read_to(await self._end())
        self._follower = asyncio.create_task(self._follow(), name=f"follow-{self.topic}")

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self._consumer is not None:
            await self._consumer.stop()

    async def load(self) -> None:
        """Read the topic to its end once (for a one-off reader such as the CLI)."""
        await self.start()
        await self.stop()

    async def _end(self) -> int:
        assert self._consumer is not None  # noqa: S101 - started first
        return int((await self._consumer.end_offsets([self._partition]))[self._partition])

    async def _read_to(self, end: int) -> None:
        assert self._consumer is not None  # noqa: S101
        while self._position < end:
            await self._fetch()

    async def _follow(self) -> None:
        while True:
            try:
                await self._fetch()
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker may be away for a moment: keep following
                log.warning("following %s failed; retrying", self.topic, exc_info=True)
                await asyncio.sleep(1.0)

    async def _fetch(self) -> None:
        assert self._consumer is not None  # noqa: S101
        batches = await self._consumer.getmany(self._partition, timeout_ms=FETCH_MS)
        for message in batches.get(self._partition, []):
            try:
                self._apply(message.key.decode(), message.value)
            except Exception:  # one bad record must not stop the table (or the worker's start)
                log.exception("%s: record at offset %d skipped", self.topic, message.offset)
            self._position = message.offset + 1
        position = await self._consumer.position(self._partition)
        async with self._moved:
            self._position = max(self._position, position)
            self._moved.notify_all()

    async def sync(self) -> None:
        """Return once the view holds every record written before this call."""
        with kafka_errors(f"Kafka topic {self.topic}"):  # away: 503, not 500
            end = await self._end()
            async with asyncio.timeout(SYNC_SECONDS), self._moved:
                await self._moved.wait_for(lambda: self._position >= end)

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = json.loads(value)
        for listener in self.listeners:
            listener(key)

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    async def put(self, key: str, value: Any) -> None:
        """Write ``value`` (None: a tombstone) and wait until Kafka acknowledged it."""
        payload = None if value is None else json.dumps(value, sort_keys=True).encode()
        await self.write([Record(key.encode(), payload)])

    async def write(self, records: Sequence[Record]) -> None:
        """Write ``records`` (keys and JSON values or tombstones) in one batch, acknowledged."""
        await send_batch(self.producer, self.topic, records)
        for record in records:
            assert record.key is not None  # noqa: S101 - every row of a table has a key
            self._apply(record.key.decode(), record.value)
