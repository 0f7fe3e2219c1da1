"""Where a consumer starts on a topic: ``earliest``, ``latest`` or a time, as offsets.

The gateway's subscriptions (created or reset to a start) and connect's sinks (a first run without
committed offsets) resolve a start here, so ``latest`` or a time means the same on every path: a
time is the first record at or after it on each partition (Kafka's ListOffsets by timestamp), or
the partition's end where nothing is that late.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.core.config import KafkaSettings
from services.core.kafka.consumer import create_consumer

StartAt = Literal["earliest", "latest"] | datetime


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic`` in order (none: the cluster does not know it)."""
    client = consumer._client  # it tracks (and refreshes) metadata only of the topics added
    await client.add_topic(topic)
    found = consumer.partitions_for_topic(topic)
    if not found:  # new since the last refresh, or gone: ask the cluster once more
        await client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(found or ())]


async def start_offsets(
    consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition], start: StartAt
) -> dict[TopicPartition, int]:
    """The offset ``start`` means on each of ``partitions``."""
    if start == "earliest":
        return dict(await consumer.beginning_offsets(list(partitions)))
    ends = await consumer.end_offsets(list(partitions))
    if start == "latest":
        return dict(ends)
    assert isinstance(start, datetime)  # noqa: S101 - the type's last branch
    millis = max(0, int(start.timestamp() * 1000))
    found = await consumer.offsets_for_times(dict.fromkeys(partitions, millis))
    return {tp: ends[tp] if hit is None else hit.offset for tp, hit in found.items()}


async def place_new_group(
    settings: KafkaSettings, topic: str, group_id: str, start: StartAt
) -> dict[int, int] | None:
    """Commit ``start`` as the offsets of ``group_id`` on ``topic`` if the group has committed
    none there yet, and return them by partition; None (nothing done) when it has, so a group
    that ran before continues from its commits. The group must have no active member."""
    consumer = create_consumer(settings, group_id=group_id, client_id=f"ndxp-start-{group_id}")
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        if not partitions:
            return None  # no topic yet: everything written to it later is after any start
        consumer.assign(partitions)  # by hand: no group membership, no rebalance
        # one request for every partition (the public committed() asks for one at a time)
        committed = await consumer._coordinator.fetch_committed_offsets(partitions)
        if any(meta.offset >= 0 for meta in committed.values()):
            return None
        offsets = await start_offsets(consumer, partitions, start)
        await consumer.commit(offsets)
        return {tp.partition: offset for tp, offset in offsets.items()}
    finally:
        await consumer.stop()
