"""make bench-kafka: the raw data plane, as a baseline for the gateway's publish path.

An idempotent aiokafka producer (acks=all, through services.core.kafka) sends batches of 500
fastavro-encoded 10-field records in the Confluent wire format, from 1 and from 16 concurrent
senders; prints events/s. BENCH_EVENTS sets the events per run (default 200,000).
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import time
import uuid
from typing import Any

import fastavro

from bench.common import kafka, report, run
from services.core.config import KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.producer import Record, create_producer, send_batch, start_producer

BATCH = 500
SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "Reading",
        "namespace": "vn.gov.bench",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "station", "type": "string"},
            {"name": "province_code", "type": "int"},
            {"name": "measured_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "pm25", "type": "double"},
            {"name": "pm10", "type": "double"},
            {"name": "temperature", "type": "float"},
            {"name": "humidity", "type": "float"},
            {"name": "status", "type": "string"},
            {"name": "note", "type": ["null", "string"], "default": None},
        ],
    }
)
FRAME = struct.pack(">bI", 0, 1)  # Confluent wire format: magic byte 0, schema id 1


def reading(i: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "station": f"HN-{i % 50:03d}",
        "province_code": 1,
        "measured_at": 1_790_000_000_000 + i,
        "pm25": 35.5 + i % 7,
        "pm10": 50.25,
        "temperature": 29.5,
        "humidity": 0.81,
        "status": "OK",
        "note": None,
    }


def encode(record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(FRAME)
    fastavro.schemaless_writer(out, SCHEMA, record)
    return out.getvalue()


async def produce(bootstrap: str, topic: str, events: int, senders: int) -> float:
    settings = KafkaSettings(bootstrap=bootstrap)
    producer = await start_producer(create_producer(settings))
    per_sender = events // senders // BATCH
    try:

        async def sender(n: int) -> None:
            for b in range(per_sender):
                base = (n * per_sender + b) * BATCH
                batch = [
                    Record(str(base + i).encode(), encode(reading(base + i))) for i in range(BATCH)
                ]
                await send_batch(producer, topic, batch)

        started = time.perf_counter()
        await asyncio.gather(*(sender(n) for n in range(senders)))
        return per_sender * senders * BATCH / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def main() -> None:
    events = int(os.environ.get("BENCH_EVENTS", "200000"))
    async with kafka() as bootstrap:
        settings = KafkaSettings(bootstrap=bootstrap)
        for senders in (1, 16):
            topic = f"bench.readings-{uuid.uuid4().hex[:6]}.v1"
            await ensure_topic(settings, TopicSpec(topic, partitions=3))
            rate = await produce(bootstrap, topic, events, senders)
            report(
                f"aiokafka producer + fastavro, {BATCH}-record batches, {senders} sender(s)",
                {"events": events, "events_per_second": rate},
            )


if __name__ == "__main__":
    run(main)
