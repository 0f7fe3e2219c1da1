"""Subscriptions on Kafka: a consumer group per subscription, read with partitions assigned by hand.

A subscription's position is its consumer group's committed offsets, so any gateway replica can
serve it and none keeps state another needs. Partitions are assigned by hand (``assign``), never
through group membership: no rebalances, no member that must keep heartbeating, any number of
replicas reading the same subscription. Commits carry the subscription's epoch (its reset count)
in their metadata (:mod:`services.gateway.subscriptions.cursor`).

A replica keeps one started consumer per subscription it serves pulls for (:class:`ConsumerPool`),
closed after a minute unused; an SSE stream opens a consumer of its own only while it is behind
the head of its dataset (:mod:`services.gateway.subscriptions.heads`).

It lives in ``subscriptions/``: publishing never consumes (a takeover's read of what a dead owner
committed is ``publish.idempotency_kafka``'s own short-lived consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.admin import DeleteGroupsRequest
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import Gauge

from services.core.config import KafkaSettings
from services.core.errors import NotFound, Unavailable
from services.core.kafka.admin import admin_client
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.positions import StartAt, partitions_of, start_offsets

log = logging.getLogger(__name__)

EPOCH_PREFIX: Final = "ndxp-epoch="
KAFKA_TIMEOUT: Final = 15.0  # seconds a metadata, offsets or commit round trip may take
IDLE_SECONDS: Final = 60.0
MAX_POOLED: Final = 512

CONSUMERS_OPEN = Gauge(
    "ndxp_gateway_kafka_consumers",
    "Started Kafka consumers of subscriptions in this gateway process (pooled ones, shared head "
    "readers, and streams' own while they catch up).",
    multiprocess_mode="livesum",
)


@dataclass(frozen=True)
class Committed:
    """A subscription's position: the next offset of every partition, and its epoch."""

    offsets: dict[int, int]
    epoch: int


class SubscriptionConsumer:
    """One subscription's consumer group on its topic, every partition assigned by hand."""

    def __init__(self, consumer: AIOKafkaConsumer, topic: str, group_id: str) -> None:
        self.consumer = consumer
        self.topic = topic
        self.group_id = group_id
        self.lock = asyncio.Lock()
        self.last_used = time.monotonic()
        # The cursor offsets of the last batch this consumer handed out: when the committed
        # offsets are exactly these, it reads on from where it is (its prefetched records stay);
        # otherwise every partition is sought back to the committed offsets.
        self.handed_out: dict[int, int] | None = None
        self._partitions: list[TopicPartition] = []
        self._open = True

    @property
    def partitions(self) -> list[TopicPartition]:
        return self._partitions

    async def refresh(self) -> list[TopicPartition]:
        """Assign every partition of the topic (partitions added since are picked up)."""
        async with bounded("Kafka metadata"):
            wanted = await partitions_of(self.consumer, self.topic)
        if not wanted:
            raise NotFound(f"the dataset's Kafka topic {self.topic!r} does not exist")
        if wanted != self._partitions:
            self.consumer.assign(wanted)
            self._partitions = wanted
            self.handed_out = None
        return wanted

    async def beginnings(self) -> dict[int, int]:
        async with bounded("Kafka offsets"):
            found = await self.consumer.beginning_offsets(self._partitions)
        return {tp.partition: offset for tp, offset in found.items()}

    async def ends(self) -> dict[int, int]:
        async with bounded("Kafka offsets"):
            found = await self.consumer.end_offsets(self._partitions)
        return {tp.partition: offset for tp, offset in found.items()}

    async def start_at(self, start: StartAt) -> dict[int, int]:
        """The offsets ``start`` (earliest, latest or a time) means on every partition."""
        async with bounded("Kafka offsets"):
            found = await start_offsets(self.consumer, self._partitions, start)
        return {tp.partition: offset for tp, offset in found.items()}

    async def committed(self) -> Committed:
        """The group's committed offsets (one request for every partition). A partition with none
        (added to the topic later, or expired after offsets.retention.minutes unused) reads from
        its beginning: at least once, never a gap."""
        async with bounded("Kafka committed offsets"):
            # aiokafka's public committed() asks for one partition per request.
            found = await self.consumer._coordinator.fetch_committed_offsets(self._partitions)
        offsets = {tp.partition: meta.offset for tp, meta in found.items() if meta.offset >= 0}
        epoch = max((epoch_of(meta.metadata) for meta in found.values()), default=0)
        missing = [tp.partition for tp in self._partitions if tp.partition not in offsets]
        if missing:
            beginnings = await self.beginnings()
            offsets.update({p: beginnings[p] for p in missing})
        return Committed(offsets, epoch)

    async def commit(self, offsets: Mapping[int, int], epoch: int) -> None:
        metadata = f"{EPOCH_PREFIX}{epoch}"
        wanted = {
            TopicPartition(self.topic, p): OffsetAndMetadata(o, metadata)
            for p, o in offsets.items()
        }
        if wanted:
            async with bounded("Kafka commit"):
                await self.consumer.commit(wanted)

    async def positions(self) -> dict[int, int]:
        """Where the consumer stands: past every record it has returned, and past the transaction
        markers and aborted records it skipped (what a cursor should say, so lag can reach 0)."""
        async with bounded("Kafka position"):
            return {tp.partition: await self.consumer.position(tp) for tp in self._partitions}

    def seek(self, offsets: Mapping[int, int]) -> None:
        for tp in self._partitions:
            if tp.partition in offsets:
                self.consumer.seek(tp, offsets[tp.partition])

    async def fetch(self, max_records: int, timeout: float) -> dict[TopicPartition, list[Any]]:  # noqa: ASYNC109 - a long poll's wait is its point
        with kafka_errors("Kafka fetch"):
            found: dict[TopicPartition, list[Any]] = await self.consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=max_records
            )
        return found

    async def close(self) -> None:
        """Stop the consumer (its sockets and buffers go); closing twice is closing once."""
        if self._open:
            self._open = False
            try:
                await self.consumer.stop()
            finally:
                CONSUMERS_OPEN.dec()


@asynccontextmanager
async def bounded(what: str) -> AsyncIterator[None]:
    """Kafka errors as ndxp's, and a bound on retrying ones (aiokafka retries some forever)."""
    try:
        async with asyncio.timeout(KAFKA_TIMEOUT):
            with kafka_errors(what):
                yield
    except TimeoutError as exc:
        raise Unavailable(f"{what}: Kafka did not answer in time") from exc


def epoch_of(metadata: str | None) -> int:
    if metadata and metadata.startswith(EPOCH_PREFIX):
        with contextlib.suppress(ValueError):
            return int(metadata.removeprefix(EPOCH_PREFIX))
    return 0


async def open_consumer(
    settings: KafkaSettings, bootstrap: str, topic: str, group_id: str
) -> SubscriptionConsumer:
    """A started consumer of ``group_id`` with every partition of ``topic`` assigned."""
    consumer = create_consumer(
        settings,
        bootstrap=bootstrap,
        group_id=group_id,
        client_id=f"ndxp-{group_id}",
    )
    opened = SubscriptionConsumer(consumer, topic, group_id)
    CONSUMERS_OPEN.inc()  # until close(), which undoes it
    try:
        async with bounded("Kafka consumer"):
            await consumer.start()
        await opened.refresh()
    except BaseException:
        await opened.close()
        raise
    return opened


async def delete_group(settings: KafkaSettings, bootstrap: str, group_id: str) -> None:
    """Delete a subscription's consumer group and its offsets; a failure is only logged (unused
    offsets expire after the broker's offsets.retention.minutes anyway)."""
    try:
        async with (
            asyncio.timeout(KAFKA_TIMEOUT),
            admin_client(settings, bootstrap=bootstrap) as admin,
        ):
            coordinator = await admin.find_coordinator(group_id)
            response = await admin._send_request(DeleteGroupsRequest([group_id]), coordinator)
            errors = [code for _, code in response.results if code]
            if errors:
                log.warning("deleting consumer group %s: error codes %s", group_id, errors)
    except Exception as exc:  # noqa: BLE001 - best effort, logged
        log.warning("could not delete consumer group %s: %s", group_id, exc)


class ConsumerPool:
    """One started consumer per subscription this replica serves pulls for; idle ones close."""

    def __init__(
        self,
        settings: KafkaSettings,
        bootstrap: str,
        *,
        idle_seconds: float = IDLE_SECONDS,
        max_pooled: int = MAX_POOLED,
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.idle_seconds = idle_seconds
        self.max_pooled = max_pooled
        self._entries: dict[str, asyncio.Future[SubscriptionConsumer]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def use(
        self, subscription_id: str, topic: str, group_id: str
    ) -> AsyncIterator[SubscriptionConsumer]:
        """The subscription's consumer, held exclusively for the block."""
        entry = await self._entry(subscription_id, topic, group_id)
        async with entry.lock:
            entry.last_used = time.monotonic()
            try:
                yield entry
            finally:
                entry.last_used = time.monotonic()

    async def _entry(self, key: str, topic: str, group_id: str) -> SubscriptionConsumer:
        self._start_reaper()
        created = key not in self._entries
        entry = await started_once(
            self._entries,
            key,
            lambda: open_consumer(self.settings, self.bootstrap, topic, group_id),
        )
        if created:
            await self._trim()
        return entry

    async def discard(self, key: str) -> None:
        """Forget the subscription's consumer (deleted); it closes once no request uses it (a
        long poll in progress finishes first, without holding up the caller)."""
        pending = self._entries.pop(key, None)
        if _ready(pending):
            assert pending is not None  # noqa: S101 - _ready says so
            entry = pending.result()
            if entry.lock.locked():
                task = asyncio.create_task(self._close_when_free(entry))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            else:
                await self._close(key, entry)

    async def _close_when_free(self, entry: SubscriptionConsumer) -> None:
        async with entry.lock:
            await entry.close()

    async def _trim(self) -> None:
        """Past ``max_pooled``, the least recently used idle consumers are closed."""
        ready = [(k, f.result()) for k, f in self._entries.items() if _ready(f)]
        excess = len(ready) - self.max_pooled
        for key, entry in sorted(ready, key=lambda item: item[1].last_used)[: max(0, excess)]:
            if not entry.lock.locked():
                await self._close(key, entry)

    async def _close(self, key: str, entry: SubscriptionConsumer) -> None:
        if _ready(self._entries.get(key)) and self._entries[key].result() is entry:
            del self._entries[key]
        try:
            await entry.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            log.warning("closing the consumer of %s: %s", entry.group_id, exc)

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="ndxp-consumer-pool-reaper")

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.idle_seconds / 4))
            cutoff = time.monotonic() - self.idle_seconds
            for key, future in list(self._entries.items()):
                if _ready(future):
                    entry = future.result()
                    if entry.last_used < cutoff and not entry.lock.locked():
                        await self._close(key, entry)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        entries, self._entries = self._entries, {}
        for future in entries.values():
            if _ready(future):
                await future.result().close()
        for task in list(self._closing):
            task.cancel()


K = TypeVar("K")
V = TypeVar("V")


async def started_once(
    entries: dict[K, asyncio.Future[V]], key: K, start: Callable[[], Awaitable[V]]
) -> V:
    """The value ``entries`` holds for ``key``, started with ``start`` if it holds none: callers
    that come meanwhile wait for that one start; a start that fails is forgotten (they get its
    error, the next caller starts again)."""
    pending = entries.get(key)
    if pending is None:
        pending = asyncio.get_running_loop().create_future()
        entries[key] = pending
        try:
            pending.set_result(await start())
        except BaseException as exc:
            del entries[key]
            if isinstance(exc, asyncio.CancelledError):
                pending.cancel()
            else:
                pending.set_exception(exc)
                pending.exception()  # retrieved: waiters get it, nobody else logs it
            raise
    return await asyncio.shield(pending)


def _ready(future: asyncio.Future[SubscriptionConsumer] | None) -> bool:
    return (
        future is not None and future.done() and not future.cancelled() and not future.exception()
    )
