from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, exc, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.engine import create_engine, ping, session_factory
from services.core.db.migrate import current_revision, head_revision, migrate
from services.core.db.models import Agency, Base


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def migrated(engine: AsyncEngine) -> AsyncEngine:
    await migrate(engine)
    return engine


async def test_migrate_creates_agencies_and_returns_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None

    assert await migrate(engine) == head_revision()

    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "agencies" in tables


async def test_migrations_match_the_models(migrated: AsyncEngine) -> None:
    def diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    async with migrated.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_migrate_again_is_a_no_op(migrated: AsyncEngine) -> None:
    async with session_factory(migrated)() as session, session.begin():
        session.add(Agency(id="mps", name="Ministry of Public Security", kind="ministry"))

    assert await migrate(migrated) == head_revision()

    async with session_factory(migrated)() as session:
        assert await session.scalar(select(func.count()).select_from(Agency)) == 1


async def test_concurrent_migrations_leave_one_head(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(5)]
    try:
        revisions = await asyncio.gather(*(migrate(e) for e in engines))
        assert revisions == [head_revision()] * 5
        async with engines[0].connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert [tuple(r) for r in rows] == [(head_revision(),)]
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))


async def test_agency_round_trip(migrated: AsyncEngine) -> None:
    factory = session_factory(migrated)
    async with factory() as session, session.begin():
        session.add(
            Agency(
                id="hanoi", name="Hà Nội People's Committee", kind="province", code="000.00.00.H26"
            )
        )

    async with factory() as session:
        agency = await session.get_one(Agency, "hanoi")
    assert (agency.name, agency.kind, agency.code, agency.enabled) == (
        "Hà Nội People's Committee",
        "province",
        "000.00.00.H26",
        True,
    )
    assert isinstance(agency.created_at, datetime)
    assert agency.created_at.utcoffset() is not None


async def test_check_constraint_rejects_unknown_kind(migrated: AsyncEngine) -> None:
    with pytest.raises(exc.IntegrityError, match="ck_agencies_kind"):
        async with session_factory(migrated)() as session, session.begin():
            session.add(Agency(id="acme", name="Acme", kind="company"))


async def test_unique_code_rejects_duplicate(migrated: AsyncEngine) -> None:
    factory = session_factory(migrated)
    async with factory() as session, session.begin():
        session.add(
            Agency(id="moh", name="Ministry of Health", kind="ministry", code="000.00.19.G01")
        )
    with pytest.raises(exc.IntegrityError):
        async with factory() as session, session.begin():
            session.add(Agency(id="moh-2", name="Copy", kind="ministry", code="000.00.19.G01"))


async def test_agencies_without_code_do_not_collide(migrated: AsyncEngine) -> None:
    async with session_factory(migrated)() as session, session.begin():
        session.add_all(
            [Agency(id="a1", name="One", kind="other"), Agency(id="a2", name="Two", kind="other")]
        )


async def test_ping(engine: AsyncEngine) -> None:
    await ping(engine)
