"""The audit trail on a real control plane (SQLite and PostgreSQL) and a real Kafka topic:
concurrent writers from two processes' worth of logs make one chain, its copy on the topic
matches, and ``ndxp audit verify`` passes until a record is altered; while Kafka refuses, records
wait in the outbox and reach the topic once it is back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import AuditEvent, AuditLog
from services.core.audit.check import PENDING_WINDOW, TopicReport, verify_database, verify_topic
from services.core.audit.relay import LeaseTaken, Relay
from services.core.audit.watch import ChainWatch
from services.core.config import KafkaSettings
from services.core.db.models import AuditOutbox, AuditRecord, AuditRelay
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.producer import create_producer, start_producer
from services.core.logging import request_id
from tests.fixtures.cli import ndxp
from tests.fixtures.kafka import kafka_test_settings


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    settings = kafka_test_settings()
    started = await start_producer(create_producer(settings, bootstrap=kafka_bootstrap))
    try:
        yield started
    finally:
        await started.stop()


def event(i: int) -> AuditEvent:
    return AuditEvent(
        "deliver", "moh", f"moh-client-{i % 3}", dataset="mps.residence-changes",
        agreement=str(uuid.UUID(int=i % 4)), provider="mps", consumer="moh", records=i,
        bytes=i * 120, offsets={i % 3: [i, i + 10]}, details={"channel": "pull"},
    )  # fmt: skip


async def test_concurrent_writers_make_one_chain_mirrored_on_the_topic(
    sessions: async_sessionmaker[AsyncSession],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    database_url: str,
    tmp_path: Path,
) -> None:
    topic = f"test.audit-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    await ensure_topic(settings, TopicSpec(topic, 1, cleanup_policy="compact", retention_ms=-1))

    async def get_producer() -> AIOKafkaProducer:
        return producer

    replicas = [AuditLog(sessions, dialect(database_url), get_producer, topic) for _ in range(2)]
    token = request_id.set("req-audit-test")
    try:
        ids = await asyncio.gather(*(replicas[i % 2].record(event(i)) for i in range(60)))
    finally:
        request_id.reset(token)
        for log in replicas:
            await log.close()
    assert len(set(ids)) == 60

    report = await verify_database(sessions)
    assert report.ok, report.problems
    assert report.checked == 60
    assert await verify_topic(sessions, settings, topic) == TopicReport([], 0)
    async with sessions() as session:
        row = await session.get(AuditRecord, 1)
        assert row is not None
        assert (row.request_id, row.consumer_agency, row.action) == (
            "req-audit-test",
            "moh",
            "deliver",
        )

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NDXP_")},
        "NDXP_DATABASE_URL": database_url,
        "NDXP_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "NDXP_DATA_DIR": str(tmp_path),
    }
    intact = await asyncio.to_thread(ndxp_audit_verify, env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "audit trail intact: 60 records" in intact.stdout

    async with sessions() as session:  # someone edits a record in the index
        await session.execute(
            update(AuditRecord).where(AuditRecord.seq == 17).values(record_count=0)
        )
        await session.commit()
    broken = await asyncio.to_thread(ndxp_audit_verify, env)
    assert broken.returncode == 1
    assert "seq 17: hash does not match its content (edited)" in broken.stdout
    assert (await verify_topic(sessions, settings, topic)).problems == [
        "seq 17: the topic's copy differs from the index"
    ]


async def test_records_wait_in_the_outbox_while_kafka_refuses(
    sessions: async_sessionmaker[AsyncSession],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    database_url: str,
) -> None:
    """The record is durable in the index at once; the topic gets it when Kafka is back, and
    until then ``verify --kafka`` calls it pending, not missing (unless it waits too long)."""
    topic = f"test.audit-{uuid.uuid4().hex[:8]}"
    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    await ensure_topic(settings, TopicSpec(topic, 1, cleanup_policy="compact", retention_ms=-1))

    async def no_kafka() -> AIOKafkaProducer:
        raise ConnectionRefusedError("Kafka is down")

    down = AuditLog(sessions, dialect(database_url), no_kafka, topic)
    first = [await down.record(event(i)) for i in range(3)]
    await down.close()
    assert (await verify_database(sessions)).checked == 3
    assert await verify_topic(sessions, settings, topic) == TopicReport([], 3)
    later = datetime.now(UTC) + PENDING_WINDOW + timedelta(seconds=1)
    assert (await verify_topic(sessions, settings, topic, now=later)).problems == [
        f"seq {seq}: not on the topic {topic} (still in the outbox: is Kafka reachable?)"
        for seq in (1, 2, 3)
    ]

    async def get_producer() -> AIOKafkaProducer:
        return producer

    back = AuditLog(sessions, dialect(database_url), get_producer, topic)
    try:
        assert back.relay is not None
        assert await back.relay.drain() == 3  # another replica's leftovers, published in order
        second = await back.record(event(3))
    finally:
        await back.close()
    assert len({*first, second}) == 4
    assert (await verify_database(sessions)).ok
    assert await verify_topic(sessions, settings, topic) == TopicReport([], 0)
    async with sessions() as session:
        assert list(await session.scalars(select(AuditOutbox.seq))) == []


async def test_one_relay_publishes_at_a_time_until_its_lease_lapses(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async def no_kafka() -> AIOKafkaProducer:
        raise ConnectionRefusedError("Kafka is down")

    log = AuditLog(sessions, dialect(database_url), no_kafka, "unused")
    await log.record(event(1))
    await log.close()  # its relay could not publish: the record waits in the outbox, lease free
    first, second = Relay(sessions, no_kafka, "unused"), Relay(sessions, no_kafka, "unused")
    with pytest.raises(ConnectionRefusedError):
        await first.drain()  # took the lease, then Kafka refused: it keeps the lease, retrying
    with pytest.raises(LeaseTaken):
        await second.drain()
    async with sessions.begin() as session:  # the first one stalls past its lease
        await session.execute(
            update(AuditRelay).values(until=datetime.now(UTC) - timedelta(seconds=1))
        )
    with pytest.raises(ConnectionRefusedError):
        await second.drain()  # took over
    with pytest.raises(LeaseTaken):
        await first.drain()


def dialect(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def ndxp_audit_verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return ndxp("audit", "verify", env=env)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_the_chain_watch_finds_an_edit_and_keeps_finding_it(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    trail = AuditLog(sessions, dialect(database_url), None, "unused")
    written = sample("ndxp_audit_records_total", {"action": "deliver"})
    try:
        for i in range(30):
            await trail.record(event(i))
        watch = ChainWatch(sessions)
        assert await watch.check() == []  # the first check walks the chain from the genesis
        assert (sample("ndxp_audit_chain_intact"), watch.head.seq) == (1, 30)
        assert sample("ndxp_audit_chain_verified_seq") == 30
        assert sample("ndxp_audit_records_total", {"action": "deliver"}) == written + 30
        for i in range(30, 35):
            await trail.record(event(i))
    finally:
        await trail.close()
    assert await watch.check() == []  # the next ones from where the last stopped
    assert watch.head.seq == 35

    async with sessions() as session:  # someone edits a record already checked
        await session.execute(
            update(AuditRecord).where(AuditRecord.seq == 7).values(record_count=0)
        )
        await session.commit()
    failures = sample("ndxp_audit_chain_verification_failures_total")
    fresh = ChainWatch(sessions)  # a gateway starting, or a full check, walks it all
    assert await fresh.check() == ["seq 7: hash does not match its content (edited)"]
    assert sample("ndxp_audit_chain_intact") == 0
    assert await fresh.check() == ["seq 7: hash does not match its content (edited)"]  # still
    assert sample("ndxp_audit_chain_verification_failures_total") == failures + 2
    assert sample("ndxp_audit_chain_verified_seq") == 35  # the last head found intact
