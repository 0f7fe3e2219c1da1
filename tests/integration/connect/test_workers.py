"""Workers as real processes: SIGKILLed mid-run, and a group of two losing one."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from aiokafka.structs import TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core.avro.codec import compile_contract, decode
from services.core.config import KafkaSettings
from services.core.kafka.consumer import create_consumer
from services.core.kafka.headers import CONNECTOR, EVENT_ID, decode_headers
from tests.integration.connect.conftest import (
    PERSON,
    Dataset,
    connect_settings,
    read_topic,
    sql_config,
    until,
)
from tests.integration.connect.processes import WorkerProcess, worker_env, workers

ROWS = 100_000
BATCH = 2_000
KILLS = 3


async def people_table(path: Path, ids: range) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name VARCHAR(100),"
            " age INTEGER, updated_at TIMESTAMP)"
        )
        rows = [{"id": i, "name": f"Công dân {i}", "age": i % 90} for i in ids]
        await conn.execute(
            text("INSERT INTO people (id, name, age) VALUES (:id, :name, :age)"), rows
        )
    await engine.dispose()
    return url


async def end_offset(bootstrap: str, topic: str) -> int:
    consumer = create_consumer(KafkaSettings(bootstrap=bootstrap))
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([partition]))[partition])
    finally:
        await consumer.stop()


async def test_a_worker_sigkilled_three_times_loses_nothing_and_repeats_at_most_a_batch(
    tmp_path: Path, dataset: Dataset, kafka_bootstrap: str, registry_url: str
) -> None:
    source = await people_table(tmp_path / "source.db", range(1, ROWS + 1))
    settings = connect_settings(tmp_path, kafka_bootstrap, registry_url, uuid.uuid4().hex[:12])
    env = worker_env(settings)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    name = f"crash-{dataset.agency}"
    config = sql_config(dataset, source, batch_size=BATCH, poll_interval_seconds=0.1)
    config["errors.tolerance"] = "none"
    started: list[WorkerProcess] = []

    async def new_worker() -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        await worker.start()
        return worker

    async with workers(started):
        worker = await new_worker()
        async with httpx.AsyncClient(base_url=worker.url) as http:
            created = await http.post("/connectors", json={"name": name, "config": config})
            assert created.status_code == 201, created.text
        for _ in range(KILLS):
            # Kill somewhere in the next 5,000-25,000 rows, at a random instant within a batch.
            mark = await end_offset(kafka_bootstrap, dataset.topic) + rng.randint(5_000, 25_000)

            async def reached(mark: int = mark) -> bool:
                return await end_offset(kafka_bootstrap, dataset.topic) >= min(mark, ROWS)

            await until(reached, 120, f"{mark} records on the topic (seed {seed})")
            await asyncio.sleep(rng.uniform(0, 0.2))
            worker.kill()
            worker = await new_worker()

        async def done() -> bool:
            async with httpx.AsyncClient(base_url=worker.url) as http:
                body = (await http.get(f"/connectors/{name}/offsets")).json()
            offsets = body.get("offsets") or [{}]
            return bool(offsets[0].get("offset") == {"incrementing": ROWS})

        await until(done, 180, f"the offset to reach {ROWS} (seed {seed})")
        for each in started:
            each.stop()

    total = await end_offset(kafka_bootstrap, dataset.topic)
    records = await read_topic(kafka_bootstrap, dataset.topic, total, within=120, settle=0.2)
    contract = compile_contract(dataset.schema_id, PERSON)
    counts: Counter[int] = Counter()
    event_ids: dict[int, set[str]] = defaultdict(set)
    for record in records:
        row = decode(record.value, contract)["id"]
        counts[row] += 1
        event_ids[row].add(decode_headers(record.headers)[EVENT_ID])
    assert set(counts) == set(range(1, ROWS + 1)), f"rows missing (seed {seed})"
    repeats = len(records) - ROWS
    assert repeats <= KILLS * BATCH, f"{repeats} repeats after {KILLS} kills (seed {seed})"
    assert all(len(ids) == 1 for ids in event_ids.values()), "a repeat got a new event id"


async def test_when_a_worker_dies_its_connectors_resume_on_the_other(
    tmp_path: Path, dataset: Dataset, kafka_bootstrap: str, registry_url: str
) -> None:
    source = await people_table(tmp_path / "source.db", range(1, 201))
    settings = connect_settings(tmp_path, kafka_bootstrap, registry_url, uuid.uuid4().hex[:12])
    env = worker_env(settings)
    first = WorkerProcess(env, tmp_path / "a.log")
    second = WorkerProcess(env, tmp_path / "b.log")
    names = [f"share{i}-{dataset.agency}" for i in range(6)]
    config = sql_config(dataset, source, batch_size=50)

    async with workers([first, second]):
        await first.start()
        await second.start()
        async with (
            httpx.AsyncClient(base_url=first.url) as via_first,
            httpx.AsyncClient(base_url=second.url) as via_second,
        ):
            for name in names:
                created = await via_first.post("/connectors", json={"name": name, "config": config})
                assert created.status_code == 201, created.text
            assert sorted((await via_second.get("/connectors")).json()) == sorted(names)

            async def owners() -> dict[str, str] | None:
                # Any worker answers for every connector, wherever it runs.
                found = {}
                for name in names:
                    status = (await via_second.get(f"/connectors/{name}/status")).json()
                    if status["connector"]["state"] != "RUNNING":
                        return None
                    found[name] = status["connector"]["worker_id"]
                return found

            running = await until(owners, 60, "every connector RUNNING")
            ports = {str(first.port), str(second.port)}
            assert {owner.split(":")[1].split("/")[0] for owner in running.values()} <= ports
            await read_topic(kafka_bootstrap, dataset.topic, len(names) * 200, within=90)

            victim = first if f":{first.port}/" in running[names[0]] else second
            survivor, api = (second, via_second) if victim is first else (first, via_first)
            moved = [name for name in names if f":{victim.port}/" in running[name]]
            victim.kill()
            await people_table(tmp_path / "source.db", range(201, 301))

            async def resumed() -> bool:
                for name in names:
                    status = (await api.get(f"/connectors/{name}/status")).json()["connector"]
                    if status["state"] != "RUNNING" or f":{survivor.port}/" not in str(
                        status["worker_id"]
                    ):
                        return False
                return True

            await until(resumed, 60, f"{moved} to move to the surviving worker")
            # The survivor writes the new rows of every connector, the moved ones included.
            records = await read_topic(kafka_bootstrap, dataset.topic, len(names) * 300, within=90)
    contract = compile_contract(dataset.schema_id, PERSON)
    seen: dict[str, set[int]] = defaultdict(set)
    for record in records:
        producer = decode_headers(record.headers)[CONNECTOR]
        seen[producer].add(decode(record.value, contract)["id"])
    assert moved, "the killed worker ran the first connector"
    for name in names:
        assert seen[name] == set(range(1, 301)), name
