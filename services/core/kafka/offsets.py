"""How much a topic holds, and how many records lie between two offsets: records, not offsets.

Offsets are not records. A transaction's commit or abort marker takes an offset on every
partition it wrote, and the records of an aborted transaction keep theirs though no
``read_committed`` consumer ever sees them: a topic written in transactions of one record holds
two offsets per event. So what ndxp shows as a count of records (the catalogue's volume, the lag
of a subscription or a sink) is counted here, the one way:

- the end of a partition is its *last stable offset* (a ``read_committed`` ListOffsets): nothing
  at or after it is decided yet;
- the records in ``[start, end)`` are those a ``read_committed`` consumer returns when it reads
  the span (:meth:`OffsetReader.count`): markers and aborted records are skipped by the client.

The work is bounded: one call reads at most ``budget`` offsets of a span; whatever it did not
read counts as offsets, an upper bound (:attr:`Count.exact` is then False). What was counted is
remembered by ``(topic, partition, start)``, so the next call on the same span reads only what
was written since: a stalled subscription costs the new records only, a caught-up one (start =
end) nothing, and a large topic's volume becomes exact over a few calls.

One :class:`OffsetReader` per process keeps one consumer (no group, never committing) connected
for the look-ups and the counting, so a look costs ListOffsets round trips, not a new connection.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.core.config import KafkaSettings
from services.core.errors import NotFound, Unavailable
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.positions import partitions_of

DEFAULT_TIMEOUT: Final = 10.0
BUDGET: Final = 10_000  # offsets one call reads of a span, at most
REMEMBERED: Final = 10_000  # spans whose count is kept for the next call
_POLL_MS: Final = 50  # one wait for a fetch; a span of markers only returns nothing
_FETCH_WAIT_MS: Final = 50  # the broker's wait at the end of a partition


@dataclass(frozen=True)
class Count:
    """Records a ``read_committed`` consumer gets from a span; ``exact`` False: the part not yet
    read is counted as offsets, so ``records`` is an upper bound."""

    records: int
    exact: bool = True

    def __add__(self, other: Count) -> Count:
        return Count(self.records + other.records, self.exact and other.exact)


@dataclass(frozen=True)
class PartitionOffsets:
    """``beginning`` is the first offset still kept, ``end`` the last stable offset (the next
    decided record's), ``count`` the records between them."""

    partition: int
    beginning: int
    end: int
    count: Count

    @property
    def records(self) -> int:
        return self.count.records


@dataclass(frozen=True)
class TopicOffsets:
    topic: str
    partitions: tuple[PartitionOffsets, ...]

    @property
    def count(self) -> Count:
        """Records kept on the topic, transaction markers and aborted records excluded."""
        return sum((p.count for p in self.partitions), Count(0))

    @property
    def records(self) -> int:
        return self.count.records


@dataclass
class _Counted:
    through: int  # the span is read up to here (exclusive)
    records: int  # records found in [start, through)


class OffsetReader:
    """Reads topics' offsets and counts their records over one long-lived consumer, connected on
    first use. One call reads at most ``budget`` offsets of each span, for ``read_seconds`` at most
    (and half the ``timeout``); the rest counts as offsets until a later call."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        bootstrap: str | None = None,
        timeout: float = 0.0,
        budget: int = BUDGET,
        read_seconds: float = 0.0,
    ) -> None:
        self._settings = settings
        self._bootstrap = bootstrap
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._budget = budget
        # reading spans stops after this long in one call (half the bound at most: room to answer)
        self._read_seconds = min(read_seconds or self._timeout, self._timeout / 2)
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._reading = asyncio.Lock()  # one span read at a time: it assigns the consumer
        self._counted: OrderedDict[tuple[str, int, int], _Counted] = OrderedDict()

    async def offsets(self, topic: str) -> TopicOffsets:
        """Every partition's offsets of ``topic`` and its records; ``NotFound`` if the cluster
        does not know it, ``Unavailable`` if the cluster does not answer in time."""
        async with self._bounded(f"the offsets of {topic!r}") as deadline:
            wanted = await self._partitions(topic)
            beginnings, ends = await self._bounds(wanted)
            counts = [await self._count(tp, beginnings[tp], ends[tp], deadline) for tp in wanted]
        return TopicOffsets(
            topic,
            tuple(
                PartitionOffsets(tp.partition, beginnings[tp], ends[tp], count)
                for tp, count in zip(wanted, counts, strict=True)
            ),
        )

    async def partitions(self, topic: str) -> list[TopicPartition]:
        """Every partition of ``topic`` in order; ``NotFound`` if the cluster does not know it."""
        async with self._bounded(f"the partitions of {topic!r}"):
            return await self._partitions(topic)

    async def bounds(
        self, partitions: Sequence[TopicPartition]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """The beginning and the last stable offset of each of ``partitions``."""
        async with self._bounded("partition offsets"):
            return await self._bounds(partitions)

    async def count(self, partition: TopicPartition, start: int, end: int) -> Count:
        """The records in ``[start, end)`` of ``partition`` (``end`` at most its last stable
        offset), reading at most ``budget`` offsets of it now."""
        async with self._bounded(f"the records of {partition.topic!r}") as deadline:
            return await self._count(partition, start, end, deadline)

    async def close(self) -> None:
        async with self._lock:
            if self._consumer is not None:
                await self._consumer.stop()
                self._consumer = None

    @asynccontextmanager
    async def _bounded(self, what: str) -> AsyncIterator[float]:
        """Kafka's errors as ndxp's, within the reader's time bound; yields the deadline by which
        reading spans stops."""
        try:
            async with asyncio.timeout(self._timeout):
                with kafka_errors("Kafka offsets"):
                    yield time.monotonic() + self._read_seconds
        except TimeoutError as exc:
            raise Unavailable(f"Kafka did not report {what} in time") from exc

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        wanted = await partitions_of(await self._started(), topic)
        if not wanted:
            raise NotFound(f"Kafka topic {topic!r} does not exist")
        return wanted

    async def _bounds(
        self, partitions: Sequence[TopicPartition]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        consumer = await self._started()
        # read_committed (the consumer's isolation level): the ends are last stable offsets
        beginnings = await consumer.beginning_offsets(list(partitions))
        ends = await consumer.end_offsets(list(partitions))
        return dict(beginnings), dict(ends)

    async def _count(self, tp: TopicPartition, start: int, end: int, deadline: float) -> Count:
        if end <= start:
            return Count(0)
        key = (tp.topic, tp.partition, start)
        counted = self._counted.pop(key, None)
        if counted is None or counted.through > end:  # new, or the topic was made again
            counted = _Counted(start, 0)
        stop = min(end, counted.through + self._budget)
        if counted.through < stop:
            counted = await self._read(tp, counted, stop, deadline)
        self._counted[key] = counted  # the most recently used last
        while len(self._counted) > REMEMBERED:
            self._counted.popitem(last=False)
        unread = end - counted.through
        return Count(counted.records + unread, exact=unread == 0)

    async def _read(
        self, tp: TopicPartition, counted: _Counted, stop: int, deadline: float
    ) -> _Counted:
        """Read on from ``counted.through`` towards ``stop``; what was read by the deadline."""
        consumer = await self._started()
        records = counted.records
        async with self._reading:
            consumer.assign([tp])
            try:
                consumer.seek(tp, counted.through)
                position = counted.through
                while position < stop and time.monotonic() < deadline:
                    fetched = await consumer.getmany(tp, timeout_ms=_POLL_MS)
                    records += sum(1 for r in fetched.get(tp, ()) if r.offset < stop)
                    # past the records returned, and past the markers and aborted ones skipped
                    position = await consumer.position(tp)
            finally:
                consumer.unsubscribe()  # no fetching in the background between reads
        return _Counted(min(position, stop), records)

    async def _started(self) -> AIOKafkaConsumer:
        async with self._lock:
            if self._consumer is None:
                consumer = create_consumer(
                    self._settings,
                    bootstrap=self._bootstrap,
                    client_id="ndxp-offsets",
                    fetch_max_wait_ms=_FETCH_WAIT_MS,
                )
                try:
                    with kafka_errors("Kafka offsets"):
                        await consumer.start()
                except BaseException:
                    await consumer.stop()
                    raise
                self._consumer = consumer
            return self._consumer
