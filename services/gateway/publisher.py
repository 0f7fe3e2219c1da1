"""The Kafka side of publishing: a batch of encoded records into a topic in one transaction.

A pool of transactional producers belongs to each gateway process (opened by its lifespan, each
producer started on first use). aiokafka runs one transaction at a time per producer, so a batch
takes a producer from the pool, writes every record and commits, then gives it back: with ``size``
producers, ``size`` batches are in flight at once and the rest wait their turn. Transactional ids
are unique per process (``ndxp-gateway-<random>-<n>``), so replicas never fence each other.

Records are laid out in Kafka batches by hand (``create_batch``/``send_batch``): one future per
partition rather than one per record. Partitions: a keyed record goes where Kafka's default
partitioner (murmur2 of the key over all partitions) puts it, so the gateway, Java and aiokafka
producers agree; the unkeyed records of a request all go to one partition picked at random, so
they keep their order and cost one produce request.

All or nothing: if any record is refused, Kafka is unreachable or the batch takes longer than
``timeout`` seconds, the transaction is aborted and ``Unavailable`` (or ``NotFound`` /
``PayloadTooLarge``) raised; read_committed consumers never see any of it. A producer whose abort
fails too is discarded (stopped in the background) and its slot starts a new one with the same
transactional id next time, which fences the old one and makes Kafka abort what it left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from services.core.config import KafkaSettings
from services.core.errors import Conflict, NdxpError, Unavailable
from services.core.kafka.errors import kafka_errors
from services.core.kafka.producer import create_producer, start_producer

log = logging.getLogger(__name__)

ABORT_TIMEOUT: Final = 3.0
STOP_TIMEOUT: Final = 30.0
# A transaction's first partition is refused (CONCURRENT_TRANSACTIONS) until the markers of the
# producer's previous one are written: retry soon, as Java's producer does, not after 100 ms.
RETRY_BACKOFF_MS: Final = 10

Headers = list[tuple[str, bytes]]


class TopicMissing(Conflict):
    """The dataset is in the catalogue but its topic is not in Kafka: an operator's problem."""

    code = "topic_missing"
    title = "Topic missing"


@dataclass(frozen=True)
class Outgoing:
    """What to write: values with their keys (None: no key) and headers, all at one timestamp."""

    values: Sequence[bytes]
    keys: Sequence[bytes | None] | None
    headers: Sequence[Headers]
    timestamp_ms: int


@dataclass
class _Slot:
    number: int
    producer: AIOKafkaProducer | None = None


@dataclass
class ProducerPool:
    """``size`` transactional producers of one process; see the module docstring."""

    kafka: KafkaSettings
    bootstrap: str
    size: int
    transaction_timeout_ms: int = 60_000
    prefix: str = field(default_factory=lambda: f"ndxp-gateway-{uuid.uuid4().hex[:12]}")
    _idle: asyncio.Queue[_Slot] = field(default_factory=asyncio.Queue)
    _stopping: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        for number in range(self.size):
            self._idle.put_nowait(_Slot(number))

    @contextlib.asynccontextmanager
    async def producer(self) -> AsyncIterator[AIOKafkaProducer]:
        """A started producer for one transaction; on failure it is discarded (see above)."""
        slot = await self._idle.get()
        try:
            if slot.producer is None:
                slot.producer = await start_producer(
                    create_producer(
                        self.kafka,
                        bootstrap=self.bootstrap,
                        transactional_id=f"{self.prefix}-{slot.number}",
                        transaction_timeout_ms=self.transaction_timeout_ms,
                        retry_backoff_ms=RETRY_BACKOFF_MS,
                    )
                )
            yield slot.producer
        except _Broken as broken:
            self._discard(slot)
            raise broken.error from broken.__cause__
        finally:
            self._idle.put_nowait(slot)

    def _discard(self, slot: _Slot) -> None:
        producer, slot.producer = slot.producer, None
        if producer is not None:
            task = asyncio.create_task(_stop(producer))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        """Stop every producer (each commits or aborts nothing: no transaction is open now)."""
        slots = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        for slot in slots:
            self._discard(slot)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)


async def _stop(producer: AIOKafkaProducer) -> None:
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await producer.stop()
    except Exception:  # a producer being thrown away may fail any way it likes
        log.warning("a discarded Kafka producer did not stop cleanly", exc_info=True)


class _Broken(Exception):  # an internal signal, not an error a caller sees
    """Raised inside the pool's block: discard the producer, then raise ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Publisher:
    """Writes batches to topics in transactions, through a :class:`ProducerPool`."""

    def __init__(self, pool: ProducerPool, timeout: float) -> None:
        self.pool = pool
        self.timeout = timeout

    async def send(self, topic: str, batch: Outgoing) -> list[tuple[int, int]]:
        """Write ``batch`` to ``topic`` in one transaction; each record's (partition, offset), in
        the order given."""
        async with self.pool.producer() as producer:
            partitions = await _partitions(producer, topic)
            groups = _by_partition(batch.keys, len(batch.values), partitions)
            try:
                async with asyncio.timeout(self.timeout):
                    with kafka_errors(f"Kafka topic {topic}"):
                        return await _transaction(producer, topic, batch, groups)
            except TimeoutError as exc:
                error: NdxpError = Unavailable(
                    f"Kafka did not take the batch for {topic} within {self.timeout:g} s"
                )
                cause: BaseException | None = exc
            except NdxpError as exc:
                error, cause = exc, exc.__cause__
            except KafkaError as exc:  # not retriable: still nothing the client could fix
                log.warning("publishing to %s failed: %r", topic, exc)
                error, cause = Unavailable(f"Kafka topic {topic}: {exc}"), exc
            except BaseException as exc:  # cancelled: the transaction is left open; fence it
                raise _Broken(exc) from exc
            if await _aborted(producer):
                raise error from cause
            raise _Broken(error) from cause


async def _partitions(producer: AIOKafkaProducer, topic: str) -> tuple[list[int], list[int]]:
    """All of the topic's partitions, sorted, and those with a leader now."""
    cluster = producer.client.cluster
    found = cluster.partitions_for_topic(topic)
    if found is None:
        with kafka_errors(f"Kafka topic {topic}"):
            await producer.client.add_topic(topic)
            if not await producer.client.force_metadata_update():
                raise Unavailable(f"Kafka did not answer for topic {topic}")
        found = cluster.partitions_for_topic(topic)
        if found is None:
            raise TopicMissing(f"the topic {topic} of this dataset does not exist in Kafka")
    available = cluster.available_partitions_for_topic(topic) or ()
    return sorted(found), list(available)


def _by_partition(
    keys: Sequence[bytes | None] | None, count: int, partitions: tuple[list[int], list[int]]
) -> dict[int, list[int]]:
    """The indexes of the records, by the partition each goes to."""
    every, available = partitions
    unkeyed = random.choice(available or every)  # noqa: S311 - spreading load, not a secret
    if keys is None:
        return {unkeyed: list(range(count))}
    groups: dict[int, list[int]] = {}
    size = len(every)
    for index, key in enumerate(keys):
        partition = unkeyed if key is None else every[(murmur2(key) & 0x7FFFFFFF) % size]
        groups.setdefault(partition, []).append(index)
    return groups


async def _transaction(
    producer: AIOKafkaProducer, topic: str, batch: Outgoing, groups: dict[int, list[int]]
) -> list[tuple[int, int]]:
    await producer.begin_transaction()
    sent: list[tuple[asyncio.Future[object], int, list[int]]] = []
    values, keys, headers, timestamp = batch.values, batch.keys, batch.headers, batch.timestamp_ms
    for partition, indexes in groups.items():
        builder, members = producer.create_batch(), list[int]()
        for index in indexes:
            key = None if keys is None else keys[index]
            value, record_headers = values[index], headers[index]
            if (
                builder.append(key=key, value=value, timestamp=timestamp, headers=record_headers)
                is None
            ):  # full (it closed itself); an empty batch takes any record
                future = await producer.send_batch(builder, topic, partition=partition)
                sent.append((future, partition, members))
                builder, members = producer.create_batch(), []
                builder.append(key=key, value=value, timestamp=timestamp, headers=record_headers)
            members.append(index)
        builder.close()  # a closed batch is sent at once: no linger
        future = await producer.send_batch(builder, topic, partition=partition)
        sent.append((future, partition, members))
    acknowledged = await asyncio.gather(*(future for future, _, _ in sent))
    await producer.commit_transaction()
    placed: list[tuple[int, int]] = [(0, 0)] * len(values)
    for metadata, (_, partition, members) in zip(acknowledged, sent, strict=True):
        base = metadata.offset  # type: ignore[attr-defined]
        for position, index in enumerate(members):
            placed[index] = (partition, base + position)
    return placed


async def _aborted(producer: AIOKafkaProducer) -> bool:
    """Abort the open transaction; False if that failed too (the producer is then unusable)."""
    try:
        async with asyncio.timeout(ABORT_TIMEOUT):
            await producer.abort_transaction()
    except Exception:  # noqa: BLE001 - any failure here means: throw the producer away
        return False
    return True
