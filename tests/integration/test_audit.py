"""The audit trail on a real control plane (SQLite and PostgreSQL) and a real Kafka topic:
concurrent writers from two processes' worth of logs make one chain, its copy on the topic
matches, and ``ndxp audit verify`` passes until a record is altered."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import AuditEvent, AuditLog
from services.core.audit.check import verify_database, verify_topic
from services.core.config import KafkaSettings
from services.core.db.models import AuditRecord
from services.core.errors import Unavailable
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
    assert await verify_topic(sessions, settings, topic) == []
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
    assert await verify_topic(sessions, settings, topic) == [
        "seq 17: the topic's copy differs from the index"
    ]


async def test_kafka_refusing_writes_nothing_to_the_index(
    sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    async def no_kafka() -> AIOKafkaProducer:
        raise ConnectionRefusedError("Kafka is down")

    log = AuditLog(sessions, dialect(database_url), no_kafka, "unused")
    with pytest.raises(Unavailable, match="Kafka is down"):
        await log.record(event(1))
    await log.close()
    assert (await verify_database(sessions)).checked == 0


def dialect(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def ndxp_audit_verify(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return ndxp("audit", "verify", env=env)
