"""sql-sink against real databases (SQLite and PostgreSQL): what a table holds after each batch."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.connectors.plugin import Rejected, SinkRecord
from services.connectors.plugins.sql_sink import SqlSink, SqlSinkConfig

HANOI = timezone(timedelta(hours=7))
BORN = datetime(1990, 5, 17, 8, 30, 15, 123000, tzinfo=HANOI)
BORN_UTC = BORN.astimezone(UTC).replace(tzinfo=None)


def person(pid: Any, name: Any = "Người", age: Any = 30, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": name, "age": age, "born": BORN, **extra}


def json_form(value: Any) -> Any:
    """A value as the codec's canonical JSON has it (near enough for these tests)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def records(*values: dict[str, Any]) -> list[SinkRecord]:
    topic = f"a{uuid.uuid4().hex[:10]}.people.v1"
    return [
        SinkRecord(
            topic=topic,
            partition=0,
            offset=offset,
            timestamp=1_741_944_615_123 + offset,
            key=str(value.get("id")),
            event_id=str(uuid.uuid4()),
            headers={},
            value=value,
            json={field: json_form(item) for field, item in value.items()},
        )
        for offset, value in enumerate(values)
    ]


async def execute(url: str, *statements: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)
    await engine.dispose()


async def table_rows(url: str, name: str, key: str = "id") -> dict[Any, dict[str, Any]]:
    """The table's rows by key, read with its reflected types (datetimes as datetimes)."""
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.connect() as conn:
        table = await conn.run_sync(lambda sync: Table(name, MetaData(), autoload_with=sync))
        result = await conn.execute(select(table))
        rows = {row._mapping[key]: dict(row._mapping) for row in result}
    await engine.dispose()
    return rows


@pytest.fixture
async def people(database_url: str) -> str:
    """A ``people_<uuid>`` table in ``database_url``; its name."""
    name = f"people_{uuid.uuid4().hex[:8]}"
    await execute(
        database_url,
        f"CREATE TABLE {name} (id BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL,"
        " age INTEGER CHECK (age >= 0), born TIMESTAMP, address TEXT)",
    )
    return name


@asynccontextmanager
async def running(url: str, table: str, **config: Any) -> AsyncIterator[SqlSink]:
    settings = SqlSinkConfig.model_validate(
        {"url": url, "table": table, "key_fields": ["id"], **config}
    )
    sink = SqlSink(f"sql-{uuid.uuid4().hex[:8]}", settings)
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


def reasons(rejected: Sequence[Rejected]) -> dict[Any, str]:
    return {(r.record.value or {}).get("id"): r.reason for r in rejected}


async def test_upserts_insert_then_update_by_key(database_url: str, people: str) -> None:
    address = {"ward": "Phường Bến Nghé", "codes": [1, 2]}
    async with running(database_url, people) as sink:
        first = records(*(person(i, f"Người {i}", address=address) for i in (1, 2, 3)))
        assert await sink.put(first) == []
        assert await sink.put(records(person(2, "Đổi tên", 31), person(4, "Mới", 40))) == []

    rows = await table_rows(database_url, people)
    assert {i: (row["name"], row["age"]) for i, row in rows.items()} == {
        1: ("Người 1", 30),
        2: ("Đổi tên", 31),
        3: ("Người 3", 30),
        4: ("Mới", 40),
    }
    assert all(row["born"] == BORN_UTC for row in rows.values())  # in UTC, without a zone
    assert rows[1]["address"] == '{"ward": "Phường Bến Nghé", "codes": [1, 2]}'
    assert rows[2]["address"] == rows[1]["address"]  # a record without the field leaves it be
    assert rows[4]["address"] is None


async def test_the_last_record_of_a_key_wins_within_a_batch(database_url: str, people: str) -> None:
    batch = records(person(1, "một"), person(2, "hai"), person(1, "ba"), person(1, "bốn", 44))
    async with running(database_url, people) as sink:
        assert await sink.put(batch) == []

    rows = await table_rows(database_url, people)
    assert {i: (row["name"], row["age"]) for i, row in rows.items()} == {
        1: ("bốn", 44),
        2: ("hai", 30),
    }


async def test_bad_records_are_rejected_and_the_rest_written(
    database_url: str, people: str
) -> None:
    batch = records(
        person(1),
        person(None),
        person(2, "x" * 21),
        person(3, age="ba mươi"),
        person(4, age=2**40),
        person(5, name=None),
        person(6, born="not a time"),
        person(7, age=-1),  # only the database's CHECK knows
        person(8),
    )
    async with running(database_url, people) as sink:
        rejected = await sink.put(batch)

    expected = {
        None: "the record has no value for key field(s) ['id']",
        2: "field 'name' → column 'name' (VARCHAR(20)): 21 characters, more than 20",
        3: "field 'age' → column 'age' (INTEGER): 'ba mươi' is not an integer",
        5: "field 'name' → column 'name' (VARCHAR(20)): NULL in a NOT NULL column",
        6: "field 'born' → column 'born' (TIMESTAMP): 'not a time' is not a date and time",
    }
    sqlite = database_url.startswith("sqlite")
    if not sqlite:  # SQLite's INTEGER holds 64 bits
        expected[4] = "field 'age' → column 'age' (INTEGER): 1099511627776 does not fit in 32 bits"
    found = reasons(rejected)
    refused = found.pop(7)
    assert found == expected
    assert refused.startswith("the database refused the record: ")
    assert "check" in refused.lower()
    rows = await table_rows(database_url, people)
    assert set(rows) == ({1, 4, 8} if sqlite else {1, 8})


async def test_an_earlier_record_of_a_key_is_written_when_the_last_is_refused(
    database_url: str, people: str
) -> None:
    # The batch keeps only the last record of key 1; the database refuses it (CHECK), so the
    # records are written one by one, the earlier record of key 1 included, not dropped.
    batch = records(person(1, "một", 31), person(2, "hai"), person(1, "ba", -1))
    async with running(database_url, people) as sink:
        rejected = await sink.put(batch)

    assert list(reasons(rejected)) == [1]
    rows = await table_rows(database_url, people)
    assert {i: (row["name"], row["age"]) for i, row in rows.items()} == {
        1: ("một", 31),
        2: ("hai", 30),
    }


async def test_mapping_renames_fields_and_writes_only_those(database_url: str) -> None:
    name = f"citizens_{uuid.uuid4().hex[:8]}"
    await execute(
        database_url,
        f"CREATE TABLE {name} (citizen_id VARCHAR(12) NOT NULL UNIQUE, full_name TEXT, age INT)",
    )
    mapping = {"cccd": "citizen_id", "name": "full_name"}
    batch = records(
        {"cccd": "001090000001", "name": "Lê Văn A", "age": 34},
        {"cccd": "001090000002", "name": "Trần Thị B", "age": 29},
    )
    async with running(database_url, name, key_fields=["cccd"], mapping=mapping) as sink:
        assert await sink.put(batch) == []

    rows = await table_rows(database_url, name, key="citizen_id")
    assert rows == {
        "001090000001": {"citizen_id": "001090000001", "full_name": "Lê Văn A", "age": None},
        "001090000002": {"citizen_id": "001090000002", "full_name": "Trần Thị B", "age": None},
    }


async def test_auto_create_makes_the_table_from_the_first_batch(database_url: str) -> None:
    name = f"auto_{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError, match="does not exist"):
        async with running(database_url, name):
            pass

    address = {"ward": "Phường 1"}
    async with running(database_url, name, auto_create=True) as sink:
        assert await sink.put(records(person(1, address=address), person(2, age=None))) == []
        assert await sink.put(records(person(2, "Hai", 22))) == []
    # a second sink finds the table the first one created
    async with running(database_url, name, auto_create=True) as sink:
        assert await sink.put(records(person(3, "Ba", 33))) == []

    rows = await table_rows(database_url, name)
    assert {i: (row["name"], row["age"]) for i, row in rows.items()} == {
        1: ("Người", 30),
        2: ("Hai", 22),
        3: ("Ba", 33),
    }
    assert rows[1]["address"] == '{"ward": "Phường 1"}'
    born = rows[1]["born"]
    assert born.replace(tzinfo=born.tzinfo or UTC) == BORN  # the instant, whatever the zone


async def test_auto_create_keeps_the_values_types(database_url: str) -> None:
    name = f"typed_{uuid.uuid4().hex[:8]}"
    ref = uuid.uuid4()
    value = {
        "id": "HS-0001",
        "amount": Decimal("12.34"),
        "ref": ref,
        "photo": b"\x89PNG",
        "active": True,
        "score": 0.25,
        "day": date(2025, 3, 14),
    }
    async with running(database_url, name, auto_create=True) as sink:
        assert await sink.put(records(value)) == []

    row = (await table_rows(database_url, name))["HS-0001"]
    assert str(row.pop("ref")) == str(ref)  # a UUID in PostgreSQL, its text in SQLite
    assert row == {k: v for k, v in value.items() if k != "ref"}


async def test_a_table_without_a_unique_key_is_refused(database_url: str) -> None:
    name = f"loose_{uuid.uuid4().hex[:8]}"
    await execute(database_url, f"CREATE TABLE {name} (id BIGINT, name TEXT)")
    with pytest.raises(RuntimeError, match="no primary key or unique constraint"):
        async with running(database_url, name):
            pass
