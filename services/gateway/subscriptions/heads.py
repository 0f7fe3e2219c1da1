"""Shared head readers: one Kafka consumer and one rendering per (topic, reader schema, format)
for every SSE stream of a replica that is at the head of its dataset.

A stream used to hold a consumer of its own for its lifetime (~100 KB and two Kafka connections),
and to decode, project and render every record itself: a thousand streams on one dataset were a
thousand consumers fetching the same records and rendering them the same way. Now a replica keeps
one :class:`HeadReader` per :class:`HeadKey` while any stream uses it. The reader has no consumer
group (it commits nothing), reads committed records only (``read_committed``, as every ndxp
consumer) from the end of the topic where it starts, and renders each record once with a
:class:`~services.core.sharing.delivery.Deliverer` under the reader schema: the rendered bytes of a
record are the same for every agreement with that reader schema and format. Each batch becomes a
:class:`Chunk` handed to every member's queue; what is per stream (the ``id:`` cursor, the
position, commits, counting, audit) stays with the stream (:mod:`services.gateway.subscriptions.
stream`).

**Join.** A stream joins a reader with its position. The reader keeps its last chunks (its tail,
up to the window: ``NDXP_GATEWAY_STREAM_WINDOW_RECORDS``, 5,000 by default), so a position at or
past where the tail starts, on every partition, is served without a gap: the member gets the
tail's chunks, then every new one, and skips the records before its position itself. A position
before the tail (a stream that starts behind, or resumes from ``Last-Event-ID``) is not: the
stream reads with a consumer of its own until a fetch finds it near the head and within the
tail, then joins and closes that consumer.

**Leave.** A member more than the window behind the reader (a client reading slower than the
dataset is written) is dropped by it, as are all members of a reader that fails; a dropped stream
goes back to a consumer of its own from the position of what it has written, so no record is lost
or repeated, and joins again once it has caught up. At most ``NDXP_GATEWAY_CATCHUP_CONSUMERS``
(100) streams of a replica read on their own at once; the others wait for a slot, sending
keepalives and keeping their checks (an overloaded replica, whose every stream falls behind,
must not open a consumer per stream and make itself slower still). A reader without members for
``NDXP_GATEWAY_HEAD_LINGER_SECONDS`` (30 by default) closes.

Metrics: ``ndxp_gateway_head_readers`` (readers open), ``ndxp_gateway_streams_at_head`` (streams a
reader serves) and ``ndxp_gateway_stream_fallbacks_total{reason}`` (members dropped: ``slow``,
``reader_failed``); a reader's consumer is counted in ``ndxp_gateway_kafka_consumers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge

from services.core.avro.codec import Contract
from services.core.config import KafkaSettings
from services.core.db.models import Agreement
from services.core.errors import NotFound
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.positions import partitions_of
from services.core.sharing.delivery import Deliverer, ordered
from services.core.tasks import cancel_requested
from services.gateway.subscriptions.consumers import CONSUMERS_OPEN, bounded, started_once

log = logging.getLogger(__name__)

BATCH_RECORDS: Final = 500
FETCH_SECONDS: Final = 1.0
WINDOW_RECORDS: Final = 5_000  # about 5 s of a dataset at 1,000 ev/s
LINGER_SECONDS: Final = 30.0
CATCHUP_CONSUMERS: Final = 100

HEAD_READERS = Gauge(
    "ndxp_gateway_head_readers",
    "Shared head readers (one Kafka consumer each) open in this gateway process.",
)
STREAMS_AT_HEAD = Gauge(
    "ndxp_gateway_streams_at_head",
    "SSE streams served by a shared head reader in this gateway process.",
)
FALLBACKS = Counter(
    "ndxp_gateway_stream_fallbacks_total",
    "Streams dropped by a shared head reader, to read with a consumer of their own "
    "(slow: the client fell behind; reader_failed).",
    ["reason"],
)


class HeadKey(NamedTuple):
    """What makes two streams' records render the same."""

    topic: str
    reader_schema_id: int | None
    fmt: str

    @classmethod
    def of(cls, topic: str, deliverer: Deliverer) -> HeadKey:
        agreement = deliverer.agreement
        reader = None if agreement is None else agreement.reader_schema_id
        return cls(topic, reader, "avro" if deliverer.avro else "json")


@dataclass(frozen=True)
class Chunk:
    """A batch of records as read and rendered once: each record's delivered JSON and the position
    after it on its partition, and the positions after the whole batch (past transaction
    markers too)."""

    records: Sequence[Any]
    parts: Sequence[bytes]
    nexts: Sequence[int]
    after: Mapping[int, int]


def render_chunk(deliverer: Deliverer, records: Sequence[Any], after: Mapping[int, int]) -> Chunk:
    """The chunk of ``records`` (prepared in ``deliverer``), the consumer standing at ``after``."""
    last = {record.partition: index for index, record in enumerate(records)}
    nexts = [
        after.get(record.partition, record.offset + 1)
        if last[record.partition] == index
        else record.offset + 1
        for index, record in enumerate(records)
    ]
    parts = [deliverer.render(record) for record in records]
    return Chunk(records, parts, nexts, dict(after))


class Member:
    """One stream's place at a reader: the chunks it has not written yet."""

    def __init__(self) -> None:
        self.chunks: deque[Chunk] = deque()
        self.queued = 0
        self.ready = asyncio.Event()
        self.dropped: str | None = None  # why the reader let it go

    def put(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        self.queued += len(chunk.records)
        self.ready.set()

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self.chunks.clear()
        self.queued = 0
        self.ready.set()

    async def next(self, timeout: float) -> Chunk | None:  # noqa: ASYNC109 - a stream's turn
        """The next chunk, or None after ``timeout`` seconds (or once dropped)."""
        if not self.chunks and self.dropped is None:
            self.ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.ready.wait()
        if not self.chunks:
            return None
        chunk = self.chunks.popleft()
        self.queued -= len(chunk.records)
        return chunk


class HeadReader:
    """One consumer reading a topic from its end, rendering under one reader schema, handing every
    batch to its members."""

    def __init__(
        self,
        key: HeadKey,
        consumer: AIOKafkaConsumer,
        deliverer: Deliverer,
        *,
        window: int = WINDOW_RECORDS,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.key, self.consumer, self.deliverer = key, consumer, deliverer
        self.window, self.linger = window, linger
        self.partitions: list[int] = []
        self.positions: dict[int, int] = {}
        self.members: set[Member] = set()
        self.tail: deque[Chunk] = deque()
        self.tail_start: dict[int, int] = {}
        self.tail_records = 0
        self.closed = False
        self.idle_since = time.monotonic()

    async def open(self, topic: str) -> None:
        async with bounded("Kafka head reader"):
            await self.consumer.start()
            found = await partitions_of(self.consumer, topic)
            if not found:
                raise NotFound(f"the dataset's Kafka topic {topic!r} does not exist")
            self.consumer.assign(found)
            await self.consumer.seek_to_end(*found)
            self.positions = {tp.partition: await self.consumer.position(tp) for tp in found}
        self.partitions = [tp.partition for tp in found]
        self.tail_start = dict(self.positions)

    def join(self, positions: Mapping[int, int]) -> Member | None:
        """A member from ``positions`` if the reader can serve it without a gap; else None."""
        if self.closed or any(positions.get(p, -1) < self.tail_start[p] for p in self.partitions):
            return None
        member = Member()
        for chunk in self.tail:
            if any(
                nxt > positions[r.partition]
                for r, nxt in zip(chunk.records, chunk.nexts, strict=True)
            ):
                member.put(chunk)
        self.members.add(member)
        STREAMS_AT_HEAD.inc()
        return member

    def leave(self, member: Member) -> None:
        if member in self.members:
            self.members.discard(member)
            STREAMS_AT_HEAD.dec()
            if not self.members:
                self.idle_since = time.monotonic()

    async def run(self) -> None:
        """Read, render and hand out until closed, or without members for ``linger`` seconds."""
        while self.members or time.monotonic() - self.idle_since < self.linger:
            with kafka_errors("Kafka head reader fetch"):
                fetched = await self.consumer.getmany(
                    timeout_ms=int(FETCH_SECONDS * 1000), max_records=BATCH_RECORDS
                )
            records = ordered(fetched)
            if records:
                await self.deliverer.prepare(records)
            async with bounded("Kafka position"):
                after = {
                    p: await self.consumer.position(TopicPartition(self.key.topic, p))
                    for p in self.partitions
                }
            if records or after != self.positions:  # records, or only markers passed
                self._publish(render_chunk(self.deliverer, records, after))

    def _publish(self, chunk: Chunk) -> None:
        self.positions.update(chunk.after)
        if chunk.records:
            self.tail.append(chunk)
            self.tail_records += len(chunk.records)
            while self.tail and self.tail_records - len(self.tail[0].records) >= self.window:
                dropped = self.tail.popleft()
                self.tail_records -= len(dropped.records)
                self.tail_start.update(dropped.after)
        elif not self.tail:
            self.tail_start.update(chunk.after)
        for member in list(self.members):
            if member.queued >= self.window:
                self._drop(member, "slow")
            else:
                member.put(chunk)

    def _drop(self, member: Member, reason: str) -> None:
        self.leave(member)
        member.drop(reason)
        FALLBACKS.labels(reason).inc()

    async def close(self) -> None:
        self.closed = True
        for member in list(self.members):
            self._drop(member, "reader_failed")
        try:
            await self.consumer.stop()
        finally:
            CONSUMERS_OPEN.dec()
            HEAD_READERS.dec()


SchemaSource = Callable[[int], Awaitable[Contract]]


class Heads:
    """A replica's head readers, one per key, each started on first use and closed when idle."""

    def __init__(
        self,
        settings: KafkaSettings,
        bootstrap: str,
        *,
        window: int = WINDOW_RECORDS,
        linger: float = LINGER_SECONDS,
        catchup: int = CATCHUP_CONSUMERS,
    ) -> None:
        self.settings, self.bootstrap = settings, bootstrap
        self.window, self.linger = window, linger
        # consumers of streams behind the head: bounded, or an overloaded replica, whose every
        # stream falls behind, would open one per stream and make itself slower still
        self.catchup = asyncio.Semaphore(catchup)
        self._readers: dict[HeadKey, asyncio.Future[HeadReader]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def reader(
        self, key: HeadKey, agreement: Agreement | None, schemas: SchemaSource
    ) -> HeadReader:
        """The open reader of ``key``, started now if there is none (rendering under
        ``agreement``'s reader schema, fetching contracts with ``schemas``)."""
        pending = self._readers.get(key)
        if pending is not None and pending.done() and pending.result().closed:
            del self._readers[key]  # closing: a new one for this caller
        return await started_once(self._readers, key, lambda: self._start(key, agreement, schemas))

    async def _start(
        self, key: HeadKey, agreement: Agreement | None, schemas: SchemaSource
    ) -> HeadReader:
        deliverer = Deliverer(schemas, agreement, channel="stream", fmt=key.fmt)
        await deliverer.prepare(())
        consumer = create_consumer(
            self.settings, bootstrap=self.bootstrap, client_id=f"ndxp-head-{key.topic}"
        )
        reader = HeadReader(key, consumer, deliverer, window=self.window, linger=self.linger)
        CONSUMERS_OPEN.inc()
        HEAD_READERS.inc()
        try:
            await reader.open(key.topic)
        except BaseException:
            await reader.close()
            raise
        task = asyncio.create_task(self._run(key, reader), name=f"ndxp-head-{key.topic}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return reader

    async def _run(self, key: HeadKey, reader: HeadReader) -> None:
        try:
            await reader.run()
        except Exception as exc:
            if cancel_requested():
                raise asyncio.CancelledError from exc
            log.warning("the head reader of %s stops; its streams read on their own: %s",
                        key.topic, exc)  # fmt: skip
        finally:
            if self._readers.get(key) is not None and self._readers[key].done():
                with contextlib.suppress(Exception):
                    if self._readers[key].result() is reader:
                        del self._readers[key]
            await asyncio.shield(reader.close())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
