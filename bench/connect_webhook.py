"""Part 2 of ``make bench-connect``: ``webhook-sink`` deliveries/s to a local receiver.

A dataset topic of its own (3 partitions) is first filled with BENCH_WEBHOOK_RECORDS records
(default 200,000) of the sql-source part's contract, encoded with the project's codec and sent with
its producer, each with the event id a source connector would give it. The receiver
(:mod:`bench.connect_receiver`) runs under uvicorn in a process of its own, checks every request's
signature and counts the records. The time runs from ``POST /connectors`` of a ``webhook-sink``
(``batch_size`` BENCH_WEBHOOK_BATCH records per request, default 100, the plugin's default) until
the receiver has counted every record; then the receiver must have seen no bad signature, the
sink's committed offsets (``GET /connectors/{name}/offsets``) must reach the topic's end, and the
DLQ must be empty. Prints records/s and requests/s, the rate after the first delivery (without
the connector's start-up), the worker's CPU time per record and the receiver's CPU time.
``BENCH_WEBHOOK_BATCH=1 BENCH_WEBHOOK_RECORDS=5000 python -m bench.connect webhook-sink`` measures
one record per request: the cost of a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench.common import BENCH_DIR, report
from bench.connect_hub import (
    AGENCY,
    PARTITIONS,
    PERSON,
    Hub,
    cpu_seconds,
    end_offsets,
    partition_ends,
    register_dataset,
    until,
)
from bench.connect_receiver import SECRET_VARIABLE
from services.connectors.failures import event_id
from services.core.avro.codec import compile_contract, encode_many
from services.core.config import KafkaSettings
from services.core.kafka.headers import EVENT_ID
from services.core.kafka.producer import Record, create_producer, send_batch, start_producer
from services.core.kafka.topics import dlq_topic
from services.core.local_kafka import free_port

PRODUCE_BATCH = 5_000
SENDERS = 4
DLQ_EVERY = 5.0  # seconds between looks at the DLQ while waiting for deliveries
PRODUCER = "bench-hook-source"  # the connector name the records' event ids are derived from
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ")
MIDDLE = ("Văn", "Thị", "Hữu", "Ngọc", "Minh")
GIVEN = ("An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Khánh")
JAN_2025_MICROS = 1_735_689_600_000_000


def person(i: int) -> dict[str, Any]:
    """Row ``i`` of the sql-source part's table, as its connector would put it on the topic."""
    name = f"{SURNAMES[i % 8]} {MIDDLE[i % 5]} {GIVEN[i % 7]} {i}"
    return {"id": i, "name": name, "age": i % 90, "updated_at": JAN_2025_MICROS + i * 1_000_000}


async def fill_topic(bootstrap: str, topic: str, schema_id: int, records: int) -> float:
    """Put records 1 to ``records`` on ``topic``, encoded with the contract ``schema_id``, with
    ``SENDERS`` concurrent batches in flight; the seconds it took."""
    contract = compile_contract(schema_id, PERSON)
    producer = await start_producer(create_producer(KafkaSettings(bootstrap=bootstrap)))
    starts = iter(range(1, records + 1, PRODUCE_BATCH))
    started = time.perf_counter()
    try:

        async def sender() -> None:
            for first in starts:  # shared: each sender takes the next batch
                ids = range(first, min(first + PRODUCE_BATCH, records + 1))
                values = encode_many(contract, (person(i) for i in ids))
                batch = [
                    Record(
                        str(i).encode(),
                        value,
                        [(EVENT_ID, event_id(PRODUCER, {"incrementing": i}).encode())],
                    )
                    for i, value in zip(ids, values, strict=True)
                ]
                await send_batch(producer, topic, batch)

        await asyncio.gather(*(sender() for _ in range(SENDERS)))
    finally:
        await producer.stop()
    return time.perf_counter() - started


@contextmanager
def receiver(secret: str) -> Iterator[str]:
    """The receiver under uvicorn in its own process; yields its base URL once it answers."""
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.connect_receiver:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    environment = {**os.environ, SECRET_VARIABLE: secret}
    process = subprocess.Popen(argv, env=environment, cwd=BENCH_DIR.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the webhook receiver exited with {process.returncode}")
            try:
                if httpx.get(f"{url}/count", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the webhook receiver was not ready in 30 s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def committed_offsets(answer: dict[str, Any]) -> list[int]:
    """A sink's committed offset per partition, from ``GET /connectors/{name}/offsets``."""
    offsets = {
        entry["partition"]["kafka_partition"]: entry["offset"]["kafka_offset"]
        for entry in answer["offsets"]
    }
    return [offsets.get(partition, 0) for partition in range(PARTITIONS)]


async def webhook_sink(hub: Hub) -> None:
    records = int(os.environ.get("BENCH_WEBHOOK_RECORDS", "200000"))
    batch = int(os.environ.get("BENCH_WEBHOOK_BATCH", "100"))
    suffix = uuid.uuid4().hex[:6]
    topic, schema_id = await register_dataset(hub, f"hook-{suffix}", PERSON)
    filled = await fill_topic(hub.bootstrap, topic, schema_id, records)
    ends = await partition_ends(hub.bootstrap, topic, PARTITIONS)
    if sum(ends) != records:
        raise RuntimeError(f"{topic} holds {sum(ends)} records, not {records}")
    report(
        f"{topic}: {records:,} records (codec + producer, {SENDERS} batches in flight)",
        {"fill_seconds": filled, "records_per_second": records / filled},
    )

    secret = secrets.token_urlsafe(32)
    name = f"bench-hook-{suffix}"
    with receiver(secret) as url:
        config = {
            "connector.class": "webhook-sink",
            "dataset": f"{AGENCY}.hook-{suffix}",
            "errors.tolerance": "all",
            "url": f"{url}/hook",
            "secret": secret,
            "batch_size": batch,
            "start": "earliest",  # the topic was filled before: a new sink starts at its end
        }
        async with (
            httpx.AsyncClient(base_url=hub.connect, timeout=30) as http,
            httpx.AsyncClient(base_url=url, timeout=30) as hook,
        ):
            counts: dict[str, Any] = (await hook.get("/count")).json()
            looked, dead = [time.monotonic()], [0]

            async def counted() -> bool:
                counts.update((await hook.get("/count")).json())
                if counts["bad_signatures"]:
                    raise RuntimeError(f"the receiver refused signatures: {counts}")
                if time.monotonic() - looked[0] > DLQ_EVERY:  # refused destinations end here
                    looked[0] = time.monotonic()
                    with contextlib.suppress(Exception):  # not created yet
                        dead[0] = await end_offsets(hub.bootstrap, dlq_topic(name))
                    if dead[0]:
                        raise RuntimeError(f"{dead[0]} records dead-lettered to {dlq_topic(name)}")
                return bool(counts["distinct"] >= records)

            async def committed() -> bool:
                answer = (await http.get(f"/connectors/{name}/offsets")).json()
                return committed_offsets(answer) == ends

            receiver_cpu, cpu = counts["cpu_seconds"], await cpu_seconds(http)
            started, wall_started = time.perf_counter(), time.time()
            created = await http.post("/connectors", json={"name": name, "config": config})
            if created.status_code != 201:
                raise RuntimeError(f"creating the connector failed: {created.text}")
            done = await until(counted, within=max(600.0, records / 100), what="webhook-sink")
            cpu = await cpu_seconds(http) - cpu
            await until(committed, within=60, what="webhook-sink's committed offsets")
            status = (await http.get(f"/connectors/{name}/status")).json()
            await http.delete(f"/connectors/{name}")

    dead = await end_offsets(hub.bootstrap, dlq_topic(name))
    if dead or status["connector"]["state"] != "RUNNING":
        raise RuntimeError(f"{dead} records in the DLQ; status {status}")
    took = done - started
    after_first = counts["last_at"] - counts["first_at"]
    report(
        f"webhook-sink {topic} ({records:,} records, batch_size {batch}) -> local receiver "
        "(uvicorn, own process), 1 connect worker",
        {
            "records": records,
            "batch_size": batch,
            "seconds": took,
            "records_per_second": records / took,
            "requests_per_second": counts["requests"] / took,
            "requests": counts["requests"],
            "records_per_request": counts["records"] / counts["requests"],
            "steady_records_per_s": (
                (records - counts["first_records"]) / after_first if after_first > 0 else 0.0
            ),
            "first_delivery_seconds": counts["first_at"] - wall_started,
            "worker_cpu_us_per_rec": cpu / records * 1e6,
            "receiver_cpu_seconds": counts["cpu_seconds"] - receiver_cpu,
            "redelivered_records": counts["records"] - counts["distinct"],
            "bad_signatures": counts["bad_signatures"],
        },
    )
