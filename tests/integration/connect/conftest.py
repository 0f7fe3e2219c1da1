"""A connect worker over the session Kafka and registry, a dataset, and a source table."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.connectors.app import create_app
from services.core.avro.codec import compile_contract, encode
from services.core.config import AuthSettings, ConnectSettings, KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.consumer import create_consumer
from services.core.kafka.producer import Record, create_producer, send_batch, start_producer
from tests.fixtures.servers import serve_app

PERSON = {
    "type": "record",
    "name": "Person",
    "namespace": "vn.gov.test",
    "doc": "A person of the test source table.",
    "fields": [
        {"name": "id", "type": "long", "doc": "Row id."},
        {"name": "name", "type": "string", "doc": "Full name."},
        {"name": "age", "type": "int", "doc": "Age in years."},
    ],
}


@dataclass
class Dataset:
    agency: str
    name: str
    schema_id: int = 0

    @property
    def ref(self) -> str:
        return f"{self.agency}.{self.name}"

    @property
    def topic(self) -> str:
        return f"{self.agency}.{self.name}.v1"


async def register_dataset(
    registry_url: str, bootstrap: str, name: str, schema: dict[str, Any]
) -> Dataset:
    """A dataset of a new agency: its contract registered and its topic created."""
    ds = Dataset(f"a{uuid.uuid4().hex[:10]}", name)
    async with httpx.AsyncClient(base_url=registry_url) as http:
        response = await http.post(
            f"/subjects/{ds.topic}-value/versions", json={"schema": json.dumps(schema)}
        )
        assert response.status_code == 200, response.text
    await ensure_topic(KafkaSettings(bootstrap=bootstrap), TopicSpec(ds.topic))
    # the registry is shared by the session: the contract's id is whatever it was given
    return Dataset(ds.agency, ds.name, response.json()["id"])


@pytest.fixture
async def dataset(registry_url: str, kafka_bootstrap: str) -> Dataset:
    return await register_dataset(registry_url, kafka_bootstrap, "people", PERSON)


def connect_settings(
    data_dir: Path, bootstrap: str, registry_url: str, suffix: str, **extra: Any
) -> ConnectSettings:
    return ConnectSettings(
        data_dir=data_dir,
        port=0,
        kafka=KafkaSettings(bootstrap=bootstrap, lag_interval=1.0),  # production: 15 s
        auth=extra.pop("auth", AuthSettings(require_tokens=False)),
        registry_url=registry_url,
        configs_topic=f"ndxp.connect-configs-{suffix}",
        offsets_topic=f"ndxp.connect-offsets-{suffix}",
        status_topic=f"ndxp.connect-status-{suffix}",
        slots_topic=f"ndxp.connect-slots-{suffix}",
        group=f"ndxp-connect-{suffix}",
        session_timeout_ms=6000,
        retry_attempts=2,
        retry_backoff=0.05,
        # file connectors read the tests' drops, which are made in the test's own directory
        file_base_dirs=extra.pop("file_base_dirs", [data_dir]),
        **extra,
    )


@dataclass
class Connect:
    settings: ConnectSettings

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[httpx.AsyncClient]:
        with serve_app(create_app(self.settings)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                yield http


LOOPBACK_ALLOWED = "127.0.0.0/8,::1/128"


@pytest.fixture(autouse=True)
def loopback_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' webhook endpoints listen on loopback, which sinks refuse by default: the
    workers (in this process or started from it) allow it, as a developer's hub would.
    Tests of the refusal set ``NDXP_PUSH_ALLOWED_NETWORKS`` themselves."""
    monkeypatch.setenv("NDXP_PUSH_ALLOWED_NETWORKS", LOOPBACK_ALLOWED)


@pytest.fixture
def connect(tmp_path: Path, kafka_bootstrap: str, registry_url: str) -> Connect:
    suffix = uuid.uuid4().hex[:12]
    # the worker's data dir (its control plane, ndxp.db) apart from the tests' source databases
    # (tmp_path/ndxp.db too), which connectors may not open; its file connectors read tmp_path
    (tmp_path / "worker").mkdir()
    settings = connect_settings(
        tmp_path / "worker", kafka_bootstrap, registry_url, suffix, file_base_dirs=[tmp_path]
    )
    return Connect(settings)


@pytest.fixture
async def source_url(database_url: str) -> AsyncIterator[str]:
    """``database_url`` with an empty ``people`` table in it."""
    engine = create_async_engine(database_url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(100), age INTEGER,"
            " updated_at TIMESTAMP)"
        )
    await engine.dispose()
    yield database_url


async def insert_people(url: str, ids: range, bad_every: int = 0) -> set[int]:
    """Insert rows ``ids``; every ``bad_every``-th has a NULL name. Returns the bad ids."""
    bad = {i for i in ids if bad_every and i % bad_every == 0}
    rows = [{"id": i, "name": None if i in bad else f"Người {i}", "age": i % 90} for i in ids]
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO people (id, name, age) VALUES (:id, :name, :age)"), rows
        )
    await engine.dispose()
    return bad


async def publish_people(bootstrap: str, dataset: Dataset, ids: range) -> None:
    """Write people ``ids`` to the dataset's topic, as the gateway would (``PERSON`` contract)."""
    contract = compile_contract(dataset.schema_id, PERSON)
    records = [
        Record(str(i).encode(), encode(contract, {"id": i, "name": f"Người {i}", "age": i}))
        for i in ids
    ]
    producer = await start_producer(create_producer(KafkaSettings(bootstrap=bootstrap)))
    try:
        await send_batch(producer, dataset.topic, records)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, count: int, *, within: float = 30.0, settle: float = 0.5
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` once there are ``count``, and none more after ``settle``."""
    consumer = create_consumer(KafkaSettings(bootstrap=bootstrap))
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        async with asyncio.timeout(within):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(r for rs in batch.values() for r in rs)
        batch = await consumer.getmany(timeout_ms=int(settle * 1000))
        records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return records


def sql_config(dataset: Dataset, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "sql-source",
        "dataset": dataset.ref,
        "errors.tolerance": "all",
        "url": url,
        "table": "people",
        "mode": "incrementing",
        "incrementing_column": "id",
        "mapping": {"id": "id", "name": "name", "age": "age"},
        "batch_size": 200,
        "poll_interval_seconds": 0.2,
        **extra,
    }


async def wait_for_state(http: httpx.AsyncClient, name: str, state: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            body: dict[str, Any] = (await http.get(f"/connectors/{name}/status")).json()
            if body["connector"]["state"] == state:
                return body
            await asyncio.sleep(0.1)


async def until(check: Any, within: float, what: str) -> Any:
    """Poll ``check()`` (async) until it returns something truthy, and return that."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)
