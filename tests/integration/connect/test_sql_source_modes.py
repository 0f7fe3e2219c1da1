"""sql-source's modes besides ``incrementing``, end to end through a worker and Kafka, on SQLite
and on PostgreSQL: ``bulk``, ``timestamp`` (updates, ``delay_seconds``, a timestamp shared by more
rows than a batch), ``timestamp+incrementing``, and a ``query`` in place of a table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka.structs import ConsumerRecord, TopicPartition
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.connectors.plugins.sql import SqlSource, SqlSourceConfig
from services.core.avro.codec import compile_contract, decode
from services.core.config import KafkaSettings
from services.core.kafka.consumer import create_consumer
from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.integration.connect.conftest import (
    PERSON,
    Connect,
    Dataset,
    read_topic,
    sql_config,
)

Records = list[ConsumerRecord[bytes, bytes]]
# Far in the past whatever the database's time zone: never held back by ``delay_seconds``.
LONG_AGO = datetime(2024, 1, 1, 8, 0, 0)  # noqa: DTZ001 - the column is a TIMESTAMP without zone


def at(minutes: int) -> datetime:
    return LONG_AGO + timedelta(minutes=minutes)


async def insert(url: str, rows: Sequence[tuple[int, str, int, datetime]]) -> None:
    """Insert ``(id, name, age, updated_at)`` rows into ``people``."""
    statement = text(
        "INSERT INTO people (id, name, age, updated_at) VALUES (:id, :name, :age, :updated_at)"
    ).bindparams(bindparam("updated_at", type_=DateTime()))
    params = [{"id": i, "name": n, "age": a, "updated_at": u} for i, n, a, u in rows]
    await execute(url, statement, params)


async def update(url: str, row_id: int, name: str, updated_at: datetime) -> None:
    statement = text(
        "UPDATE people SET name = :name, updated_at = :updated_at WHERE id = :id"
    ).bindparams(bindparam("updated_at", type_=DateTime()))
    await execute(url, statement, {"id": row_id, "name": name, "updated_at": updated_at})


async def execute(url: str, statement: Any, params: Any) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(statement, params)
    finally:
        await engine.dispose()


async def database_now(url: str) -> tuple[datetime, float]:
    """Now as the database writes it in a TIMESTAMP column without zone, and as epoch seconds.

    SQLite's own clock (``CURRENT_TIMESTAMP``) is UTC; PostgreSQL's ``LOCALTIMESTAMP`` is in the
    session's time zone, which is what it compares such a column with."""
    if url.startswith("sqlite"):
        now = datetime.now(UTC)
        return now.replace(tzinfo=None), now.timestamp()
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT LOCALTIMESTAMP, CURRENT_TIMESTAMP"))).one()
    finally:
        await engine.dispose()
    return row[0], row[1].timestamp()


async def read_until(
    bootstrap: str, topic: str, done: Callable[[Records], bool], *, within: float = 30.0
) -> Records:
    """The records of ``topic`` from its start, as soon as ``done`` holds for them."""
    consumer = create_consumer(KafkaSettings(bootstrap=bootstrap))
    await consumer.start()
    records: Records = []
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        async with asyncio.timeout(within):
            while not done(records):
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return records


def values(dataset: Dataset, records: Records) -> list[dict[str, Any]]:
    contract = compile_contract(dataset.schema_id, PERSON)
    return [decode(r.value, contract) for r in records]


def event_id(record: ConsumerRecord[bytes, bytes]) -> str:
    return decode_headers(record.headers)[EVENT_ID]


async def create(http: httpx.AsyncClient, dataset: Dataset, url: str, **extra: Any) -> str:
    name = f"people-{dataset.agency}"
    config = sql_config(dataset, url, **extra)
    response = await http.post("/connectors", json={"name": name, "config": config})
    assert response.status_code == 201, response.text
    return name


async def test_bulk_sends_the_whole_table_on_every_poll_with_ids_that_follow_the_rows(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    table = {i: (f"Tỉnh {i}", 10 * i) for i in range(1, 6)}
    await insert(source_url, [(i, n, a, at(i)) for i, (n, a) in table.items()])
    size = len(table)

    def polls(records: Records) -> list[list[dict[str, Any]]]:
        # One poll's records are one send: consecutive on the topic's one partition.
        whole = len(records) - len(records) % size
        decoded = [
            {**v, "event_id": event_id(r)}
            for v, r in zip(values(dataset, records[:whole]), records[:whole], strict=True)
        ]
        return [decoded[i : i + size] for i in range(0, whole, size)]

    renamed = "Thành phố Hồ Chí Minh"
    async with connect.serve() as http:
        await create(http, dataset, source_url, mode="bulk", incrementing_column=None)
        await read_until(kafka_bootstrap, dataset.topic, lambda rs: len(polls(rs)) >= 2)
        await update(source_url, 3, renamed, at(60))
        seen = await read_until(
            kafka_bootstrap,
            dataset.topic,
            lambda rs: sum(any(v["name"] == renamed for v in p) for p in polls(rs)) >= 2,
        )

    runs = polls(seen)
    before = [p for p in runs if not any(v["name"] == renamed for v in p)]
    after = runs[len(before) :]
    assert len(before) >= 2
    assert len(after) >= 2
    for poll in before:
        assert {v["id"]: (v["name"], v["age"]) for v in poll} == table
    for poll in after:
        assert {v["id"]: (v["name"], v["age"]) for v in poll} == {**table, 3: (renamed, 30)}
    events: dict[tuple[int, str], set[str]] = {}
    for poll in runs:
        for v in poll:
            events.setdefault((v["id"], v["name"]), set()).add(v["event_id"])
    # An unchanged row keeps its event id from poll to poll (a consumer can drop repeats); the
    # changed row gets a new one, and no two rows share one.
    assert all(len(found) == 1 for found in events.values()), events
    assert len(set().union(*events.values())) == size + 1


async def test_timestamp_sends_new_and_updated_rows(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    await insert(source_url, [(i, f"Người {i}", 20 + i, at(i)) for i in range(1, 4)])
    async with connect.serve() as http:
        await create(
            http, dataset, source_url, mode="timestamp", timestamp_column="updated_at",
            incrementing_column=None,
        )  # fmt: skip
        first = await read_topic(kafka_bootstrap, dataset.topic, 3)
        await update(source_url, 2, "Người 2 (đổi tên)", at(30))
        await insert(source_url, [(4, "Người 4", 24, at(31))])
        seen = await read_topic(kafka_bootstrap, dataset.topic, 5, settle=1.0)

    assert [(v["id"], v["name"]) for v in values(dataset, first)] == [
        (1, "Người 1"), (2, "Người 2"), (3, "Người 3"),
    ]  # fmt: skip
    assert [(v["id"], v["name"]) for v in values(dataset, seen)] == [
        (1, "Người 1"), (2, "Người 2"), (3, "Người 3"), (2, "Người 2 (đổi tên)"), (4, "Người 4"),
    ]  # fmt: skip
    # The update is a new event, not a repeat of the insert.
    assert len({event_id(r) for r in seen}) == 5


async def test_timestamp_holds_back_rows_younger_than_the_delay(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    delay = 1.5
    await insert(source_url, [(1, "Người 1", 30, at(1))])
    async with connect.serve() as http:
        await create(
            http, dataset, source_url, mode="timestamp", timestamp_column="updated_at",
            incrementing_column=None, delay_seconds=delay,
        )  # fmt: skip
        await read_topic(kafka_bootstrap, dataset.topic, 1, settle=0)
        young, written_at = await database_now(source_url)
        await insert(source_url, [(2, "Người 2", 31, young)])
        seen = await read_topic(kafka_bootstrap, dataset.topic, 2, settle=1.0)

    assert [v["id"] for v in values(dataset, seen)] == [1, 2]
    # Kafka's record timestamp is when the worker sent it: not before the row was `delay` old.
    assert seen[1].timestamp >= int((written_at + delay) * 1000)


async def test_timestamp_never_splits_one_timestamp_across_batches(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    # Six rows share one timestamp, twice the batch size, between smaller groups.
    times = [at(1), at(1), *[at(2)] * 6, at(3), at(4)]
    await insert(source_url, [(i, f"Người {i}", i, t) for i, t in enumerate(times, start=1)])
    async with connect.serve() as http:
        name = await create(
            http, dataset, source_url, mode="timestamp", timestamp_column="updated_at",
            incrementing_column=None, batch_size=3,
        )  # fmt: skip
        seen = await read_topic(kafka_bootstrap, dataset.topic, len(times), settle=1.0)
        state = (await http.get(f"/connectors/{name}/status")).json()["connector"]["state"]

    ids = [v["id"] for v in values(dataset, seen)]
    assert sorted(ids) == list(range(1, len(times) + 1))
    assert ids[-2:] == [9, 10]
    assert len({event_id(r) for r in seen}) == len(times)
    assert state == "RUNNING"


async def test_timestamp_and_incrementing_resume_inside_one_timestamp(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    times = [*[at(1)] * 8, at(2), at(2)]
    await insert(source_url, [(i, f"Người {i}", i, t) for i, t in enumerate(times, start=1)])
    async with connect.serve() as http:
        name = await create(
            http, dataset, source_url, mode="timestamp+incrementing",
            timestamp_column="updated_at", batch_size=3,
        )  # fmt: skip
        seen = await read_topic(kafka_bootstrap, dataset.topic, len(times))
        await update(source_url, 4, "Người 4 (đổi tên)", at(5))
        again = await read_topic(kafka_bootstrap, dataset.topic, len(times) + 1, settle=1.0)
        offsets = (await http.get(f"/connectors/{name}/offsets")).json()["offsets"]

    assert [v["id"] for v in values(dataset, seen)] == list(range(1, len(times) + 1))
    assert [(v["id"], v["name"]) for v in values(dataset, again[len(times) :])] == [
        (4, "Người 4 (đổi tên)")
    ]
    assert len({event_id(r) for r in again}) == len(times) + 1
    assert offsets[0]["offset"]["incrementing"] == 4


async def test_a_query_in_place_of_a_table_with_its_own_key_column(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    # Adults only, keyed by their id when it is even: an odd id's NULL key leaves it unkeyed.
    query = (
        "SELECT id, name, age, CASE WHEN id % 2 = 0 THEN id END AS k FROM people WHERE age >= 18"
    )
    await insert(source_url, [(i, f"Người {i}", 10 + i, at(i)) for i in range(1, 21)])
    async with connect.serve() as http:
        await create(
            http, dataset, source_url, table=None, query=query, key_column="k", batch_size=4
        )
        first = await read_topic(kafka_bootstrap, dataset.topic, 13)
        await insert(source_url, [(21, "Người 21", 5, at(21)), (22, "Người 22", 40, at(22))])
        seen = await read_topic(kafka_bootstrap, dataset.topic, 14, settle=1.0)

    assert [v["id"] for v in values(dataset, first)] == list(range(8, 21))
    assert [(v["id"], v["age"]) for v in values(dataset, seen)][13:] == [(22, 40)]
    assert len(seen) == 14
    keys = {v["id"]: r.key for v, r in zip(values(dataset, seen), seen, strict=True)}
    assert keys == {i: str(i).encode() if i % 2 == 0 else None for i in [*range(8, 21), 22]}


async def test_the_backlog_counts_the_rows_after_the_offset_in_every_mode(source_url: str) -> None:
    """What ``ndxp_connector_source_lag_records`` reads: the rows a poll after the offset would
    take, with the poll's own condition, on the real database (each offset the one a poll gave:
    its timestamp is what the database returned); bulk has no position to count from."""
    await insert(source_url, [(i, f"Người {i}", 20, at(i // 2)) for i in range(1, 11)])
    shared = {"url": source_url, "table": "people", "incrementing_column": "id",
              "timestamp_column": "updated_at"}  # fmt: skip
    # (mode, rows the first poll takes, rows after it): rows 4 and 5 share at(2), which a
    # timestamp poll never splits; by (timestamp, id) one stops at row 4
    cases = [("incrementing", 7, 3), ("timestamp", 5, 5), ("timestamp+incrementing", 4, 6)]
    for mode, first, after in cases:
        source = SqlSource(mode, SqlSourceConfig(mode=mode, batch_size=first, **shared))
        await source.start()
        try:
            assert await source.backlog(None) == 10, mode
            batch = await source.poll(None)
            assert len(batch.records) == first, mode
            assert await source.backlog(batch.offset) == after, mode
        finally:
            await source.stop()
    bulk = SqlSource("bulk", SqlSourceConfig(mode="bulk", **shared))
    await bulk.start()
    try:
        assert await bulk.backlog(None) is None
    finally:
        await bulk.stop()


async def test_a_timestamp_source_past_its_last_rows_has_none_left(source_url: str) -> None:
    await insert(source_url, [(i, f"Người {i}", 20, at(1)) for i in range(1, 4)])
    config = SqlSourceConfig(url=source_url, table="people", mode="timestamp",
                             timestamp_column="updated_at")  # fmt: skip
    source = SqlSource("again", config)
    await source.start()
    try:
        first = await source.poll(None)
        assert len(first.records) == 3
        again = await source.poll(first.offset)
        assert (again.records, await source.backlog(first.offset)) == ([], 0)
    finally:
        await source.stop()
