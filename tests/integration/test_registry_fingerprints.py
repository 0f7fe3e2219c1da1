"""Migration 0008: stored schema fingerprints stop depending on key order, on SQLite and
PostgreSQL, and go back on downgrade."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.engine import create_engine
from services.core.db.migrate import alembic_config
from services.registry.schema import Reference, fingerprint

FIRST = {"type": "record", "name": "Keys", "fields": [{"type": "string", "name": "a"}]}
TWIN = {"name": "Keys", "fields": [{"name": "a", "type": "string"}], "type": "record"}
OTHER = {"type": "enum", "name": "Colour", "symbols": ["RED"]}
REFS = [{"name": "Colour", "subject": "colour-value", "version": 1}]


def as_registered(schema: object, refs: list[dict[str, object]]) -> str:
    """The fingerprint before 0008: the text as registered."""
    body = json.dumps(schema, separators=(",", ":"))
    payload = f"AVRO\n{body}\n{json.dumps(refs, sort_keys=True)}"
    return hashlib.sha256(payload.encode()).hexdigest()


def to(revision: str, downgrade: bool = False) -> object:
    def run(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(config, revision)

    return run


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def fingerprints(engine: AsyncEngine) -> dict[int, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, fingerprint FROM registry_schemas"))
        return {row.id: row.fingerprint for row in rows}


async def test_fingerprints_become_key_order_free_and_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(to("0007"))  # type: ignore[arg-type]
        for schema_id, schema, refs in ((1, FIRST, []), (2, TWIN, []), (3, OTHER, REFS)):
            await conn.execute(
                text(
                    "INSERT INTO registry_schemas (id, schema_type, schema, fingerprint,"
                    " \"references\") VALUES (:id, 'AVRO', :schema, :fp, :refs)"
                ),
                {
                    "id": schema_id,
                    "schema": json.dumps(schema, separators=(",", ":")),
                    "fp": as_registered(schema, refs),
                    "refs": json.dumps(refs),
                },
            )
    before = await fingerprints(engine)

    async with engine.begin() as conn:
        await conn.run_sync(to("0008"))  # type: ignore[arg-type]
    after = await fingerprints(engine)

    assert after[1] == fingerprint("AVRO", TWIN, ()) == fingerprint("AVRO", FIRST, ())
    assert after[2] not in (after[1], before[2])  # the twin: readable by id, never matched
    assert after[3] == fingerprint("AVRO", OTHER, (Reference("Colour", "colour-value", 1),))

    async with engine.begin() as conn:
        await conn.run_sync(to("0007", downgrade=True))  # type: ignore[arg-type]
    assert await fingerprints(engine) == before
