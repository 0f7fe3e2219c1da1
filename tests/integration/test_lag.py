"""Records, not offsets, on a real broker: a topic's volume and a consumer group's lag skip
transaction markers and aborted records, a stalled group reads its true lag, a caught-up one 0;
and the collector measures under a lease in the control plane, one replica at a time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY, Gauge
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.lease import Lease
from services.core.db.models import AuditRelay
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.consumer import create_consumer
from services.core.kafka.offsets import Count, OffsetReader
from services.core.kafka.producer import Record, create_producer, send_batch, start_producer
from services.core.sharing.lag import LagCollector, Lagging
from tests.fixtures.kafka import kafka_test_settings

SETTINGS = kafka_test_settings()
GAUGE = Gauge("ndxp_test_lag_records", "The collector's gauge in these tests.", ["group"])


def records(count: int) -> list[Record]:
    return [Record(f"k{i}".encode(), f"v{i}".encode()) for i in range(count)]


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    started = create_producer(
        SETTINGS, bootstrap=kafka_bootstrap, transactional_id=f"test-lag-{uuid.uuid4().hex}"
    )
    await start_producer(started)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def reader(kafka_bootstrap: str) -> AsyncIterator[OffsetReader]:
    opened = OffsetReader(SETTINGS, bootstrap=kafka_bootstrap)
    try:
        yield opened
    finally:
        await opened.close()


async def new_topic(bootstrap: str, partitions: int = 1) -> str:
    topic = f"test-lag-{uuid.uuid4().hex[:12]}"
    await ensure_topic(SETTINGS, TopicSpec(topic, partitions=partitions), bootstrap=bootstrap)
    return topic


async def committed(producer: AIOKafkaProducer, topic: str, batch: list[Record]) -> None:
    async with producer.transaction():
        await send_batch(producer, topic, batch)


async def aborted(producer: AIOKafkaProducer, topic: str, batch: list[Record]) -> None:
    await producer.begin_transaction()
    await send_batch(producer, topic, batch)
    await producer.abort_transaction()


async def commit_group(bootstrap: str, group: str, topic: str, offset: int) -> None:
    consumer = create_consumer(SETTINGS, bootstrap=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): offset})
    finally:
        await consumer.stop()


async def test_volume_counts_events_not_markers(
    kafka_bootstrap: str, producer: AIOKafkaProducer, reader: OffsetReader
) -> None:
    topic = await new_topic(kafka_bootstrap)
    for i in range(4):  # four events, one transaction each: a commit marker after each
        await committed(producer, topic, [Record(f"k{i}".encode(), b"v")])
    await aborted(producer, topic, records(3))  # three records never delivered, and a marker

    offsets = await reader.offsets(topic)

    (partition,) = offsets.partitions
    assert (partition.beginning, partition.end) == (0, 12)  # 4 + 4 markers + 3 + 1 marker
    assert offsets.count == Count(4, exact=True)
    assert offsets.records == partition.records == 4


async def test_a_large_span_is_an_upper_bound_until_counted(
    kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = await new_topic(kafka_bootstrap)
    for _ in range(6):
        await committed(producer, topic, records(5))  # 6 offsets each: 36 in all, 30 records
    reader = OffsetReader(SETTINGS, bootstrap=kafka_bootstrap, budget=10)
    try:
        counts = [(await reader.offsets(topic)).count for _ in range(5)]
    finally:
        await reader.close()

    assert counts[0] == Count(10 - 1 + 26, exact=False)  # 9 records in the first 10 offsets
    assert all(c.records >= 30 for c in counts)  # never below the truth
    assert counts[3:] == [Count(30), Count(30)]  # read 10 offsets a call, then remembered


async def test_a_stalled_group_shows_its_records_and_a_caught_up_one_none(
    kafka_bootstrap: str,
    producer: AIOKafkaProducer,
    reader: OffsetReader,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topic = await new_topic(kafka_bootstrap)
    stalled, caught_up, never = (f"test-lag-{uuid.uuid4().hex[:8]}" for _ in range(3))
    await commit_group(kafka_bootstrap, stalled, topic, 0)
    for _ in range(7):
        await committed(producer, topic, records(100))
    await committed(producer, topic, records(16))  # 716 records, 724 offsets
    await aborted(producer, topic, records(5))
    # as a consumer commits after its last record: before the marker and the aborted batch
    await commit_group(kafka_bootstrap, caught_up, topic, 723)
    targets = [Lagging((group,), group, topic) for group in (stalled, caught_up, never)]

    async def given() -> list[Lagging]:
        return targets

    lease = Lease(sessions, f"lag.test-{uuid.uuid4().hex[:8]}", timedelta(seconds=30))
    collector = LagCollector(
        GAUGE, given, reader=reader, lease=lease, kafka=SETTINGS, bootstrap=kafka_bootstrap
    )
    try:
        measured = await collector.collect()
        assert measured == {(stalled,): Count(716), (caught_up,): Count(0), (never,): Count(716)}
        assert sample(stalled) == 716
        assert sample(caught_up) == 0

        targets.pop()  # a group no longer wanted (its subscription deleted): its series goes
        await collector.collect()
        assert sample(never) is None
        assert sample(stalled) == 716
    finally:
        await collector.close()
    assert sample(stalled) is None  # a collector that stops leaves no series behind


async def test_one_collector_measures_at_a_time_until_its_lease_lapses(
    kafka_bootstrap: str, reader: OffsetReader, sessions: async_sessionmaker[AsyncSession]
) -> None:
    topic = await new_topic(kafka_bootstrap)
    group = f"test-lag-{uuid.uuid4().hex[:8]}"
    name = f"lag.test-{uuid.uuid4().hex[:8]}"

    async def given() -> list[Lagging]:
        return [Lagging((group,), group, topic)]

    first, second = (
        LagCollector(
            GAUGE,
            given,
            reader=reader,
            lease=Lease(sessions, name, timedelta(seconds=30)),
            kafka=SETTINGS,
            bootstrap=kafka_bootstrap,
        )
        for _ in range(2)
    )
    assert await first.collect() == {(group,): Count(0)}  # made the lease's row, holds it
    assert await second.collect() is None
    assert await first.collect() is not None  # renewed
    async with sessions.begin() as session:  # the first one stops renewing; the lease lapses
        await session.execute(
            update(AuditRelay)
            .where(AuditRelay.name == name)
            .values(until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await second.collect() == {(group,): Count(0)}
    assert await first.collect() is None  # and it withdraws what it exported
    await second.close()  # released: the first takes over at once
    assert await first.collect() is not None
    await first.close()


def sample(group: str) -> float | None:
    return REGISTRY.get_sample_value("ndxp_test_lag_records", {"group": group})
