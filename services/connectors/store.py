"""Connector state kept in compacted Kafka topics, as Kafka Connect keeps it: no database table.

- the configs topic: ``connector-<name>`` → ``{"config": {...}}`` (a tombstone deletes it) and
  ``target-state-<name>`` → ``{"state": "PAUSED" | "STOPPED" | "RUNNING"}``;
- the offsets topic: ``<name>`` → the source offset as JSON (a tombstone resets it).

A :class:`TopicTable` reads its topic to the end at start and then is the single writer of it
(single-worker mode), so its in-memory view is current; every write waits for Kafka's ack.
"""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.core.config import KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.consumer import create_consumer
from services.core.kafka.producer import Record, send_batch


class TopicTable:
    """A key → JSON table over a one-partition compacted topic."""

    def __init__(self, settings: KafkaSettings, topic: str, producer: AIOKafkaProducer) -> None:
        self.settings, self.topic, self.producer = settings, topic, producer
        self.rows: dict[str, Any] = {}

    async def load(self) -> None:
        """Create the topic if needed and read it to its end."""
        spec = TopicSpec(self.topic, partitions=1, cleanup_policy="compact")
        await ensure_topic(self.settings, spec)
        consumer = create_consumer(self.settings)
        await consumer.start()
        try:
            partition = TopicPartition(self.topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            while await consumer.position(partition) < end:
                batches = await consumer.getmany(partition, timeout_ms=1000)
                for message in batches.get(partition, []):
                    self._apply(message.key.decode(), message.value)
        finally:
            await consumer.stop()

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = json.loads(value)

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    async def put(self, key: str, value: Any) -> None:
        """Write ``value`` (None: a tombstone) and wait until Kafka acknowledged it."""
        payload = None if value is None else json.dumps(value, sort_keys=True).encode()
        await send_batch(self.producer, self.topic, [Record(key.encode(), payload)])
        self._apply(key, payload)
