"""``ndxp audit verify``: the chain in the control plane, and (optionally) its copy on the topic."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit.event import HASHED_FIELDS, canonical
from services.core.audit.log import topic_value
from services.core.audit.verify import ChainReport, verify_chain
from services.core.config import KafkaSettings
from services.core.db.models import AuditRecord
from services.core.kafka.consumer import create_consumer

PAGE = 5000
RECORD_COLUMNS = (*HASHED_FIELDS, "hash")


async def stored_records(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[dict[str, Any]]:
    """Every audit record of the control plane, in chain order."""
    after = 0
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
        for row in rows:
            yield {name: getattr(row, name) for name in RECORD_COLUMNS}
        after = rows[-1].seq


async def verify_database(sessions: async_sessionmaker[AsyncSession]) -> ChainReport:
    records = [record async for record in stored_records(sessions)]
    return verify_chain(records)


async def verify_topic(
    sessions: async_sessionmaker[AsyncSession], settings: KafkaSettings, topic: str
) -> list[str]:
    """Problems between the index and the topic: a record missing from the topic, differing on
    it, or on the topic only (an orphan: its database commit failed after Kafka took it)."""
    stored = {r["id"]: r async for r in stored_records(sessions)}
    on_topic = await _topic_records(settings, topic)
    problems = []
    for record_id, record in stored.items():
        copy = on_topic.pop(record_id, None)
        if copy is None:
            problems.append(f"seq {record['seq']}: not on the topic {topic}")
        elif canonical(copy) != canonical(topic_value(record)) or copy["hash"] != record["hash"]:
            problems.append(f"seq {record['seq']}: the topic's copy differs from the index")
    problems += [f"record {i} is on the topic but not in the index (orphan)" for i in on_topic]
    return problems


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
