"""How much a topic holds: each partition's beginning and end offsets, and their difference.

The catalogue shows a dataset's volume with these figures. One :class:`OffsetReader` per process
keeps a consumer (no group, no subscription, never fetching records) connected for the look-ups,
so a catalogue request costs two ListOffsets round trips, not a new connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from services.core.config import KafkaSettings
from services.core.errors import NotFound, Unavailable
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.positions import partitions_of

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class PartitionOffsets:
    """``beginning`` is the first offset still kept, ``end`` the offset the next record gets."""

    partition: int
    beginning: int
    end: int

    @property
    def records(self) -> int:
        return max(0, self.end - self.beginning)


@dataclass(frozen=True)
class TopicOffsets:
    topic: str
    partitions: tuple[PartitionOffsets, ...]

    @property
    def records(self) -> int:
        """Records kept on the topic. Transaction markers take offsets too, so for a topic written
        in transactions this counts one more per committed batch: a volume, not an exact count."""
        return sum(p.records for p in self.partitions)


class OffsetReader:
    """Reads topics' offsets over one long-lived consumer, connected on first use."""

    def __init__(
        self, settings: KafkaSettings, *, bootstrap: str | None = None, timeout: float = 0.0
    ) -> None:
        self._settings = settings
        self._bootstrap = bootstrap
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def offsets(self, topic: str) -> TopicOffsets:
        """Every partition's offsets of ``topic``; ``NotFound`` if the cluster does not know it,
        ``Unavailable`` if the cluster does not answer in time."""
        try:
            async with asyncio.timeout(self._timeout):
                consumer = await self._started()
                with kafka_errors("Kafka offsets"):
                    return await _read(consumer, topic)
        except TimeoutError as exc:
            raise Unavailable(f"Kafka did not report the offsets of {topic!r} in time") from exc

    async def close(self) -> None:
        async with self._lock:
            if self._consumer is not None:
                await self._consumer.stop()
                self._consumer = None

    async def _started(self) -> AIOKafkaConsumer:
        async with self._lock:
            if self._consumer is None:
                consumer = create_consumer(
                    self._settings, bootstrap=self._bootstrap, client_id="ndxp-offsets"
                )
                try:
                    with kafka_errors("Kafka offsets"):
                        await consumer.start()
                except BaseException:
                    await consumer.stop()
                    raise
                self._consumer = consumer
            return self._consumer


async def topic_offsets(
    settings: KafkaSettings, topic: str, *, bootstrap: str | None = None
) -> TopicOffsets:
    """One look-up with a consumer of its own: for tools and tests, not request paths."""
    reader = OffsetReader(settings, bootstrap=bootstrap)
    try:
        return await reader.offsets(topic)
    finally:
        await reader.close()


async def _read(consumer: AIOKafkaConsumer, topic: str) -> TopicOffsets:
    wanted = await partitions_of(consumer, topic)
    if not wanted:
        raise NotFound(f"Kafka topic {topic!r} does not exist")
    beginning = await consumer.beginning_offsets(wanted)
    end = await consumer.end_offsets(wanted)
    return TopicOffsets(
        topic, tuple(PartitionOffsets(tp.partition, beginning[tp], end[tp]) for tp in wanted)
    )
