"""``ndxp audit verify``: the chain in the control plane, and (optionally) its copy on the topic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka import TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit.event import canonical, stored_fields
from services.core.audit.relay import topic_value
from services.core.audit.verify import ChainReport, verify_chain
from services.core.config import KafkaSettings
from services.core.db.models import AuditOutbox, AuditRecord
from services.core.kafka.consumer import create_consumer

PAGE = 5000
# How long a record may wait in the outbox before its absence from the topic is a problem: the
# relay retries every few seconds, so only a broker down (or unreachable) for minutes gets here.
PENDING_WINDOW: Final = timedelta(minutes=5)


async def stored_records(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[dict[str, Any]]:
    """Every audit record of the control plane, in chain order."""
    async for page in record_pages(sessions):
        for record in page:
            yield record


async def record_pages(
    sessions: async_sessionmaker[AsyncSession], after: int = 0
) -> AsyncIterator[list[dict[str, Any]]]:
    """The audit records after seq ``after``, in chain order, a page (one query) at a time."""
    while True:
        async with sessions() as session:
            rows = (
                await session.scalars(
                    select(AuditRecord)
                    .where(AuditRecord.seq > after)
                    .order_by(AuditRecord.seq)
                    .limit(PAGE)
                )
            ).all()
        if not rows:
            return
        yield [stored_fields(row) for row in rows]
        after = rows[-1].seq


async def verify_database(sessions: async_sessionmaker[AsyncSession]) -> ChainReport:
    records = [record async for record in stored_records(sessions)]
    return verify_chain(records)


@dataclass(frozen=True)
class TopicReport:
    """The topic against the index: what is wrong, and how many records the relay has yet to
    publish (within ``PENDING_WINDOW``; older ones are problems)."""

    problems: list[str]
    pending: int


async def verify_topic(
    sessions: async_sessionmaker[AsyncSession],
    settings: KafkaSettings,
    topic: str,
    *,
    now: datetime | None = None,
) -> TopicReport:
    """Compare the index with the topic: a record missing from the topic (unless still in the
    outbox, and not for longer than ``PENDING_WINDOW``), differing on it, or on the topic only."""
    # Index, then outbox, then topic: a record published meanwhile is on the topic when read.
    stored = {r["id"]: r async for r in stored_records(sessions)}
    async with sessions() as session:
        outbox = set(await session.scalars(select(AuditOutbox.seq)))
    on_topic = await _topic_records(settings, topic)
    oldest = (now or datetime.now(UTC)) - PENDING_WINDOW
    problems, pending = [], 0
    for record_id, record in stored.items():
        copy = on_topic.pop(record_id, None)
        if copy is None and record["seq"] in outbox and record["time"] >= oldest:
            pending += 1
        elif copy is None:
            late = " (still in the outbox: is Kafka reachable?)" if record["seq"] in outbox else ""
            problems.append(f"seq {record['seq']}: not on the topic {topic}{late}")
        elif canonical(copy) != canonical(topic_value(record)) or copy["hash"] != record["hash"]:
            problems.append(f"seq {record['seq']}: the topic's copy differs from the index")
    last = max((r["seq"] for r in stored.values()), default=0)
    problems += [
        f"record {i} is on the topic but not in the index (orphan)"
        for i, copy in on_topic.items()
        if copy.get("seq", 0) <= last  # later ones were appended after the index was read
    ]
    return TopicReport(problems, pending)


async def _topic_records(settings: KafkaSettings, topic: str) -> dict[str, dict[str, Any]]:
    consumer = create_consumer(settings)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            await consumer._client.force_metadata_update()  # no public metadata refresh
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[str, dict[str, Any]] = {}
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    value = json.loads(message.value)
                    found[value["id"]] = value
        return found
    finally:
        await consumer.stop()
