"""The Kafka wrappers against a real broker: topics, byte-exact round trips, durability, readiness,
transactions. Every test works on its own uuid-named topics."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from services.core.errors import NotFound, Unavailable
from services.core.kafka import headers as h
from services.core.kafka.admin import (
    TopicSpec,
    check_kafka,
    delete_topic,
    describe_topic,
    ensure_topic,
)
from services.core.kafka.consumer import create_consumer
from services.core.kafka.headers import decode_headers, encode_headers
from services.core.kafka.producer import Record, create_producer, send_batch, start_producer
from services.core.local_kafka import LocalKafka, free_port
from tests.fixtures.kafka import kafka_test_settings

SETTINGS = kafka_test_settings()


def _topic(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex[:12]}"


def _records(count: int, *, keys: int = 17) -> list[Record]:
    """Records with keys, binary values of varied sizes and the ndxp headers."""
    return [
        Record(
            key=f"key-{i % keys}".encode(),
            value=i.to_bytes(4, "big") + os.urandom(i % 300),
            headers=encode_headers(
                {
                    h.EVENT_ID: str(uuid.uuid4()),
                    h.PRODUCER: "mps",
                    h.SCHEMA_ID: i % 5 + 1,
                    h.PUBLISHED_AT: f"2025-01-01T00:00:{i % 60:02d}Z",
                    h.TRACEPARENT: f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
                }
            ),
        )
        for i in range(count)
    ]


async def _read_to_end(consumer: AIOKafkaConsumer, within: float = 30.0) -> list[ConsumerRecord]:
    """Every record up to the end offsets (the last stable offset when read_committed)."""
    deadline = time.monotonic() + within
    while not consumer.assignment():
        assert time.monotonic() < deadline, "no partitions assigned"
        await consumer.getmany(timeout_ms=100)
    partitions = consumer.assignment()
    await consumer.seek_to_beginning(*partitions)
    end = await consumer.end_offsets(list(partitions))
    records: list[ConsumerRecord] = []
    while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
        assert time.monotonic() < deadline, f"read {len(records)} records, then nothing"
        batches = await consumer.getmany(timeout_ms=500)
        records.extend(record for batch in batches.values() for record in batch)
    return records


async def _produce(bootstrap: str, topic: str, records: list[Record]) -> list[tuple[int, int]]:
    producer = await start_producer(create_producer(SETTINGS, bootstrap=bootstrap))
    try:
        metadata = await send_batch(producer, topic, records)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metadata]


async def _consume(bootstrap: str, topic: str, **overrides: object) -> list[ConsumerRecord]:
    consumer = create_consumer(SETTINGS, topic, bootstrap=bootstrap, **overrides)
    await consumer.start()
    try:
        return await _read_to_end(consumer)
    finally:
        await consumer.stop()


async def test_ensure_topic_creates_once_with_partitions_and_retention(
    kafka_bootstrap: str,
) -> None:
    spec = TopicSpec(_topic("ensure"), partitions=3, retention_ms=3_600_000)

    assert await ensure_topic(SETTINGS, spec, bootstrap=kafka_bootstrap) is True
    described = await describe_topic(SETTINGS, spec.name, bootstrap=kafka_bootstrap)
    assert await ensure_topic(SETTINGS, spec, bootstrap=kafka_bootstrap) is False

    assert described.partitions == 3
    assert described.replication_factor == 1
    assert described.retention_ms == 3_600_000
    assert described.config["retention.ms"] == "3600000"
    assert described.cleanup_policy == "delete"


async def test_topic_configs_and_deletion(kafka_bootstrap: str) -> None:
    spec = TopicSpec(
        _topic("compact"), cleanup_policy="compact", config={"max.message.bytes": "6291456"}
    )
    await ensure_topic(SETTINGS, spec, bootstrap=kafka_bootstrap)

    described = await describe_topic(SETTINGS, spec.name, bootstrap=kafka_bootstrap)
    assert described.partitions == 1
    assert described.cleanup_policy == "compact"
    assert described.config["max.message.bytes"] == "6291456"

    assert await delete_topic(SETTINGS, spec.name, bootstrap=kafka_bootstrap) is True
    assert await delete_topic(SETTINGS, spec.name, bootstrap=kafka_bootstrap) is False
    with pytest.raises(NotFound):
        await describe_topic(SETTINGS, _topic("missing"), bootstrap=kafka_bootstrap)


async def test_a_thousand_records_come_back_byte_for_byte_in_order(kafka_bootstrap: str) -> None:
    topic = _topic("roundtrip")
    await ensure_topic(SETTINGS, TopicSpec(topic, partitions=3), bootstrap=kafka_bootstrap)
    sent = _records(1000)

    acks = await _produce(kafka_bootstrap, topic, sent)
    received = await _consume(kafka_bootstrap, topic)

    assert len(received) == len(sent) == len(acks)
    by_position = {(r.partition, r.offset): r for r in received}
    for record, position in zip(sent, acks, strict=True):
        got = by_position[position]
        assert got.key == record.key
        assert got.value == record.value
        assert list(got.headers) == list(record.headers)
        assert decode_headers(got.headers)[h.PRODUCER] == "mps"
    # Within a partition the records are in the order they were sent.
    sent_order: dict[int, list[bytes | None]] = defaultdict(list)
    for record, (partition, _) in zip(sent, acks, strict=True):
        sent_order[partition].append(record.value)
    received_order: dict[int, list[bytes | None]] = defaultdict(list)
    for got in received:
        received_order[got.partition].append(got.value)
    assert received_order == sent_order
    assert len(sent_order) == 3  # the keys spread over every partition
    # A key always lands on the same partition.
    partitions_of_key: dict[bytes | None, set[int]] = defaultdict(set)
    for got in received:
        partitions_of_key[got.key].add(got.partition)
    assert all(len(parts) == 1 for parts in partitions_of_key.values())


async def test_acknowledged_records_survive_a_broker_restart(tmp_path: Path) -> None:
    broker = LocalKafka(kafka_test_settings(heap="256m"), tmp_path)
    try:
        bootstrap = await broker.start()
        topic = _topic("durable")
        await ensure_topic(SETTINGS, TopicSpec(topic, partitions=2), bootstrap=bootstrap)
        sent = _records(500)
        await _produce(bootstrap, topic, sent)
        broker.stop()

        assert await broker.start() == bootstrap  # same data dir, same ports
        received = await _consume(bootstrap, topic)
    finally:
        broker.stop()

    assert sorted((r.key, r.value) for r in received) == sorted((r.key, r.value) for r in sent)
    log = broker.log_file.read_text(errors="replace")
    assert log.count("Kafka Server started") == 2


async def test_check_kafka(kafka_bootstrap: str) -> None:
    await check_kafka(SETTINGS, bootstrap=kafka_bootstrap)

    closed = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await check_kafka(SETTINGS, bootstrap=closed, timeout=2.0)
    assert time.monotonic() - started < 2.5


async def test_clients_on_a_closed_port_are_unavailable() -> None:
    closed = f"127.0.0.1:{free_port()}"

    with pytest.raises(Unavailable):
        await start_producer(create_producer(SETTINGS, bootstrap=closed))
    with pytest.raises(Unavailable):
        await ensure_topic(SETTINGS, TopicSpec(_topic("nowhere")), bootstrap=closed)


async def test_only_committed_transactions_are_read(kafka_bootstrap: str) -> None:
    topic = _topic("txn")
    await ensure_topic(SETTINGS, TopicSpec(topic, partitions=2), bootstrap=kafka_bootstrap)
    committed, aborted = _records(50), _records(30)
    producer = create_producer(
        SETTINGS, bootstrap=kafka_bootstrap, transactional_id=f"test-{uuid.uuid4().hex}"
    )
    await start_producer(producer)
    try:
        async with producer.transaction():
            await send_batch(producer, topic, committed)
        await producer.begin_transaction()
        await send_batch(producer, topic, aborted)
        await producer.abort_transaction()
    finally:
        await producer.stop()

    visible = await _consume(kafka_bootstrap, topic)
    everything = await _consume(kafka_bootstrap, topic, isolation_level="read_uncommitted")

    assert sorted(r.value for r in visible) == sorted(r.value for r in committed)
    # The aborted records were written; only read_committed hides them.
    assert sorted(r.value for r in everything) == sorted(r.value for r in committed + aborted)
    assert {r.partition for r in visible} <= {0, 1}


async def test_send_batch_waits_for_every_ack(kafka_bootstrap: str) -> None:
    topic = _topic("acks")
    await ensure_topic(SETTINGS, TopicSpec(topic), bootstrap=kafka_bootstrap)

    acks = await _produce(kafka_bootstrap, topic, _records(20, keys=1))

    assert acks == [(0, offset) for offset in range(20)]
    assert await asyncio.wait_for(_consume(kafka_bootstrap, topic), 30) != []
