"""The Kafka side of publishing: each request's batch written in a transaction, all or nothing.

**Group commit.** A request hands its batch to the :class:`Publisher` and waits. One committer
task per producer of the pool (``services.core.kafka.producer_pool``) takes the batches waiting,
up to ``GROUP_RECORDS`` records, and writes them in one transaction; a batch that arrives while
every producer is busy shares the next transaction with the others that waited. A transaction
costs Kafka several round trips and log writes whatever its size, so under load this halves the
broker's work per request; an idle gateway still writes each batch at once, alone.

A request's batch is still all or nothing: every batch of a transaction is committed with it or
aborted with it, so read_committed consumers see all of a request's records or none. If the
transaction fails, every batch in it fails: ``Unavailable`` (503) when Kafka is unreachable,
refuses or takes longer than ``timeout`` seconds; an error that may be one batch's own
(``PayloadTooLarge``, ``NotFound``) has each batch of the group tried again alone, so only that one
fails. A batch still waiting for a producer after ``timeout`` seconds is dropped: 503.

**Record sizes.** No produce batch is larger than its topic's ``max.message.bytes``
(``services.core.kafka.record_limits``): the publish path refuses an oversized record before it
gets here, and many small records are cut into produce batches that each fit. Should the broker
still refuse one (its limit was lowered within the minute the gateway keeps it), the producer is
recycled, as after any error Kafka does not retry (``services.core.kafka.producer_pool``).

**Before commit.** A batch may carry a ``before_commit`` callback, called once its records are
acknowledged and before the transaction commits, with the producer's transactional id and the
records' placements. The idempotency key store records there what is about to be committed; if
the callback says no (the key was taken over by another request), the transaction is aborted.

**Traces** (when on): each transaction is a ``kafka transaction`` span, a child of the first
batch's ``send`` span and linked to the others', so every request that shared it sees it. The
committers run in a context of their own, not in that of the request that started them.

Records are laid out in Kafka batches by hand (``create_batch``/``send_batch``): one produce batch
per partition and transaction, no future per record. Partitions: a keyed record goes where Kafka's
default partitioner (murmur2 of the key over all partitions) puts it, so the gateway, Java and
aiokafka producers agree; the unkeyed records of a request all go to one partition picked at
random, so they keep their order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from services.core.errors import Conflict, NdxpError, NotFound, PayloadTooLarge, Unavailable
from services.core.kafka.errors import fatal_reason, kafka_errors
from services.core.kafka.producer import TRANSACTIONS, Record
from services.core.kafka.producer_pool import Broken, ProducerPool
from services.core.kafka.record_limits import (
    BATCH_HEADER,
    DEFAULT_MAX_MESSAGE_BYTES,
    TopicLimits,
    size_in_batch,
)
from services.core.tasks import cancel_requested
from services.core.tracing import Context, Span, SpanKind, current_context, link_to, span

log = logging.getLogger(__name__)

ABORT_TIMEOUT: Final = 3.0
GROUP_RECORDS: Final = 5_000  # more batches join a transaction while it has fewer records
GROUP_BATCHES: Final = 16

Headers = list[tuple[str, bytes]]
Placed = list[tuple[int, int]]  # (partition, offset) of each record, in the order given
# (transactional id, placements) -> False to abort: see "Before commit" above
BeforeCommit = Callable[[str, Placed], Awaitable[bool]]


class Superseded(Conflict):
    """The batch's ``before_commit`` refused: another request took its idempotency key over."""

    code = "idempotency_key_taken_over"
    title = "Idempotency key taken over"


class TopicMissing(Conflict):
    """The dataset is in the catalogue but its topic is not in Kafka: an operator's problem."""

    code = "topic_missing"
    title = "Topic missing"


@dataclass(frozen=True)
class Outgoing:
    """What to write: values with their keys (None: no key) and headers, all at one timestamp."""

    values: Sequence[bytes | None]  # None: no value (a dead letter without one)
    keys: Sequence[bytes | None] | None
    headers: Sequence[Headers]
    timestamp_ms: int


def outgoing(records: Sequence[Record]) -> Outgoing:
    """Records built apart (dead letters) as a batch, timestamped now."""
    return Outgoing(
        [r.value for r in records],
        [r.key for r in records],
        [list(r.headers) for r in records],
        int(time.time() * 1000),
    )


@dataclass(eq=False)
class _Job:
    topic: str
    batch: Outgoing
    before_commit: BeforeCommit | None = None
    context: Context | None = field(default_factory=current_context)  # its request's span
    done: asyncio.Future[Placed] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    taken: bool = False  # in a transaction: its outcome is coming
    dropped: bool = False  # its request gave up before that: never write it

    def settle(self, result: Placed | BaseException) -> None:
        if self.done.done():
            return
        if isinstance(result, BaseException):
            self.done.set_exception(result)
            self.done.exception()  # retrieved: a request that went away leaves no warning
        else:
            self.done.set_result(result)


class Publisher:
    """Writes batches to topics in transactions shared by the batches waiting at the time."""

    def __init__(self, pool: ProducerPool, timeout: float, limits: TopicLimits) -> None:
        self.pool = pool
        self.timeout = timeout
        self.limits = limits
        self._waiting: collections.deque[_Job] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._committers: list[asyncio.Task[None]] = []

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed:
        """Write ``batch`` to ``topic``, all or nothing; each record's (partition, offset)."""
        job = _Job(topic, batch, before_commit)
        self._waiting.append(job)
        self._start()
        try:
            return await asyncio.wait_for(asyncio.shield(job.done), self.timeout)
        except TimeoutError:
            if job.taken:  # its transaction is bounded by the timeout too: wait for the outcome
                return await job.done
            job.dropped = True
            raise Unavailable(
                f"Kafka is busy: the batch for {topic} waited {self.timeout:g} s for a producer"
            ) from None
        except asyncio.CancelledError:
            job.dropped = not job.taken
            raise

    async def close(self) -> None:
        for task in self._committers:
            task.cancel()
        for task in self._committers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job in self._waiting:
            job.settle(Unavailable("the gateway is shutting down"))
        await self.pool.close()

    def _start(self) -> None:
        if self._arrived is None:
            self._arrived = asyncio.Event()
            # a context of their own: not the request's that happens to start them (its span,
            # its request id) for as long as the gateway runs
            self._committers = [
                asyncio.create_task(
                    self._commit_forever(),
                    name=f"publish-committer-{n}",
                    context=contextvars.Context(),
                )
                for n in range(self.pool.size)
            ]
        self._arrived.set()

    async def _commit_forever(self) -> None:
        while True:
            if cancel_requested():  # a cancel lost in a failed transaction: stop as asked
                raise asyncio.CancelledError
            group = await self._take()
            try:
                await self._commit(group)
            except Exception as exc:  # never lose a committer; the batches learn why
                log.exception("a publish transaction failed unexpectedly")
                for job in group:
                    job.settle(Unavailable(f"publishing failed: {exc!r}"))
            except BaseException:  # shutting down
                for job in group:
                    job.settle(Unavailable("the gateway is shutting down"))
                raise

    async def _take(self) -> list[_Job]:
        """The batches waiting (at least one), oldest first, within the group's limits."""
        assert self._arrived is not None  # noqa: S101 - set by _start before any committer runs
        while True:
            while self._waiting and self._waiting[0].dropped:
                self._waiting.popleft()
            if self._waiting:
                break
            self._arrived.clear()
            await self._arrived.wait()
        group: list[_Job] = []
        records = 0
        while self._waiting and len(group) < GROUP_BATCHES:
            job = self._waiting[0]
            size = len(job.batch.values)
            if group and records + size > GROUP_RECORDS:
                break
            self._waiting.popleft()
            if not job.dropped:
                job.taken = True
                group.append(job)
                records += size
        return group

    async def _commit(self, group: list[_Job]) -> None:
        try:
            for job, placed in zip(group, await self._write(group), strict=True):
                job.settle(placed)
        except (PayloadTooLarge, NotFound, Superseded) as exc:
            if len(group) == 1:
                group[0].settle(exc)
                return
            for job in group:  # which batch was it? each alone
                try:
                    job.settle((await self._write([job]))[0])
                except NdxpError as alone:
                    job.settle(alone)
        except NdxpError as exc:
            for job in group:
                job.settle(exc)

    async def _write(self, group: list[_Job]) -> list[Placed | NdxpError]:
        """One transaction for the batches of ``group``; each one's placement, or the error that
        kept it out (its topic is missing) while the others were written."""
        async with self.pool.producer() as producer:
            plans: list[_Plan] = []
            outcome: list[Placed | NdxpError] = [[] for _ in group]
            for number, job in enumerate(group):
                try:
                    partitions = await _partitions(producer, job.topic)
                    limit = await self.limits.max_bytes(job.topic) or DEFAULT_MAX_MESSAGE_BYTES
                except NdxpError as exc:
                    outcome[number] = exc
                    continue
                plans.append(_Plan(number, job, _by_partition(job.batch, partitions), limit))
            if not plans:
                return outcome
            try:
                async with asyncio.timeout(self.timeout):
                    transactional_id = self.pool.transactional_id(producer)
                    with kafka_errors("Kafka"), _traced(plans):
                        placed = await _transaction(producer, transactional_id, plans)
            except TimeoutError as exc:
                error: NdxpError = Unavailable(f"Kafka did not commit within {self.timeout:g} s")
                cause: BaseException | None = exc
            except NdxpError as exc:
                error, cause = exc, exc.__cause__
            except KafkaError as exc:  # not retriable: still nothing the client could fix
                log.warning("a publish transaction failed: %r", exc)
                error, cause = Unavailable(f"Kafka refused the transaction: {exc}"), exc
            except BaseException as exc:  # cancelled: the transaction is left open; fence it
                TRANSACTIONS.labels("abandoned").inc()
                raise Broken(exc) from exc
            else:
                TRANSACTIONS.labels("committed").inc()
                for plan, job_placed in zip(plans, placed, strict=True):
                    outcome[plan.number] = job_placed
                return outcome
            await self._failed(producer, plans, error, cause)
            raise AssertionError("unreachable")  # pragma: no cover - _failed always raises

    async def _failed(
        self,
        producer: AIOKafkaProducer,
        plans: list[_Plan],
        error: NdxpError,
        cause: BaseException | None,
    ) -> None:
        """Raise ``error`` after its transaction is aborted; have the producer recycled
        (:class:`Broken`) if it may be unusable."""
        if isinstance(error, PayloadTooLarge):  # the cached limit was too kind: read it again
            for plan in plans:
                self.limits.forget(plan.job.topic)
        fatal = fatal_reason(cause)
        if fatal is not None:  # the producer's sequence or epoch is not the broker's now
            TRANSACTIONS.labels("abandoned").inc()
            raise Broken(error, fatal) from cause
        if await _aborted(producer):
            TRANSACTIONS.labels("aborted").inc()
            raise error from cause
        TRANSACTIONS.labels("abandoned").inc()
        raise Broken(error) from cause


@dataclass(frozen=True)
class _Plan:
    """One batch of a transaction: its place in the group, and its records by partition."""

    number: int
    job: _Job
    groups: dict[int, list[int]]
    limit: int  # the topic's max.message.bytes: no produce batch is larger


def _traced(plans: list[_Plan]) -> AbstractContextManager[Span | None]:
    """The transaction's span: a child of the first batch's ``send`` span, linked to the
    others' (see "Traces" above)."""
    return span(
        "kafka transaction",
        kind=SpanKind.CLIENT,
        parent=plans[0].job.context,
        links=[link for plan in plans[1:] for link in link_to(plan.job.context)],
        attributes={
            "messaging.system": "kafka",
            "messaging.batch.message_count": sum(len(p.job.batch.values) for p in plans),
            "ndxp.batches": len(plans),
        },
    )


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


def _by_partition(batch: Outgoing, partitions: tuple[list[int], list[int]]) -> dict[int, list[int]]:
    """The indexes of the batch's records, by the partition each goes to."""
    every, available = partitions
    unkeyed = random.choice(available or every)  # noqa: S311 - spreading load, not a secret
    if batch.keys is None:
        return {unkeyed: list(range(len(batch.values)))}
    groups: dict[int, list[int]] = {}
    size = len(every)
    for index, key in enumerate(batch.keys):
        partition = unkeyed if key is None else every[(murmur2(key) & 0x7FFFFFFF) % size]
        groups.setdefault(partition, []).append(index)
    return groups


async def _transaction(
    producer: AIOKafkaProducer, transactional_id: str, plans: list[_Plan]
) -> list[Placed]:
    """Write every planned record in one transaction: one produce batch per partition (more
    only if one fills up or would pass the topic's limit); each plan's placements once
    committed."""
    await producer.begin_transaction()
    by_partition: dict[tuple[str, int], tuple[int, list[tuple[int, int]]]] = {}
    for plan_index, plan in enumerate(plans):
        for partition, indexes in plan.groups.items():
            _, members = by_partition.setdefault((plan.job.topic, partition), (plan.limit, []))
            members.extend((plan_index, index) for index in indexes)
    sent: list[tuple[asyncio.Future[object], int, list[tuple[int, int]]]] = []
    for (topic, partition), (limit, members) in by_partition.items():
        builder, in_builder, used = producer.create_batch(), list[tuple[int, int]](), BATCH_HEADER
        for member in members:
            batch = plans[member[0]].job.batch
            index = member[1]
            key = None if batch.keys is None else batch.keys[index]
            share = size_in_batch(key, batch.values[index], batch.headers[index])
            record = {
                "key": key,
                "value": batch.values[index],
                "timestamp": batch.timestamp_ms,
                "headers": batch.headers[index],
            }
            if (in_builder and used + share > limit) or builder.append(**record) is None:
                builder.close()  # full, or the next record would pass the limit: send it
                sent.append((await producer.send_batch(builder, topic, partition=partition),
                             partition, in_builder))  # fmt: skip
                builder, in_builder, used = producer.create_batch(), [], BATCH_HEADER
                builder.append(**record)  # an empty batch takes any record
            in_builder.append(member)
            used += share
        builder.close()  # a closed batch is sent at once: no linger
        sent.append((await producer.send_batch(builder, topic, partition=partition),
                     partition, in_builder))  # fmt: skip
    acknowledged = await asyncio.gather(*(future for future, _, _ in sent))
    placed: list[Placed] = [[(0, 0)] * len(plan.job.batch.values) for plan in plans]
    for metadata, (_, partition, in_builder) in zip(acknowledged, sent, strict=True):
        base = metadata.offset  # type: ignore[attr-defined]
        for position, (plan_index, index) in enumerate(in_builder):
            placed[plan_index][index] = (partition, base + position)
    await _before_commit(transactional_id, plans, placed)
    await producer.commit_transaction()
    return placed


async def _before_commit(transactional_id: str, plans: list[_Plan], placed: list[Placed]) -> None:
    """Run the batches' ``before_commit`` callbacks; ``Superseded`` if any refused (the
    transaction is then aborted), ``Unavailable`` if any failed."""
    calls = [
        (plan, plan.job.before_commit(transactional_id, plan_placed))
        for plan, plan_placed in zip(plans, placed, strict=True)
        if plan.job.before_commit is not None
    ]
    if not calls:
        return
    answers = await asyncio.gather(*(call for _, call in calls), return_exceptions=True)
    for (plan, _), answer in zip(calls, answers, strict=True):
        if isinstance(answer, NdxpError):
            raise answer
        if isinstance(answer, BaseException):
            raise Unavailable(f"the batch for {plan.job.topic} could not be recorded") from answer
        if not answer:
            raise Superseded(
                "another request took this Idempotency-Key over while the batch was written; "
                "nothing of it was committed"
            )


async def _aborted(producer: AIOKafkaProducer) -> bool:
    """Abort the open transaction; False if that failed too (the producer is then unusable)."""
    try:
        async with asyncio.timeout(ABORT_TIMEOUT):
            await producer.abort_transaction()
    except Exception:  # noqa: BLE001 - any failure here means: throw the producer away
        return False
    return True
