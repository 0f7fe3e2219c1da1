from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.engine import create_engine, database_busy, ping, session_factory
from services.core.db.models import Agency
from services.core.http.errors import error_info


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'ndxp.db'}")
    yield engine
    await engine.dispose()


async def test_sqlite_file_directory_is_created(sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    await ping(sqlite_engine)
    assert (tmp_path / "nested" / "dir" / "ndxp.db").is_file()


async def test_sqlite_pragmas_are_set_on_every_connection(sqlite_engine: AsyncEngine) -> None:
    for _ in range(2):
        async with sqlite_engine.connect() as conn:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
            assert await conn.scalar(text("PRAGMA busy_timeout")) == 30000


async def test_sqlite_enforces_foreign_keys(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        await conn.execute(
            text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id REFERENCES parent(id))")
        )
    with pytest.raises(exc.IntegrityError):
        async with sqlite_engine.begin() as conn:
            await conn.execute(text("INSERT INTO child (id, parent_id) VALUES (1, 42)"))


async def test_sqlite_ddl_is_transactional(sqlite_engine: AsyncEngine) -> None:
    # The sqlite3 driver would autocommit the CREATE TABLE; migrations rely on it rolling back.
    async with sqlite_engine.connect() as conn:
        async with conn.begin():
            await conn.execute(text("CREATE TABLE t (id INTEGER)"))
            await conn.rollback()
        assert await conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 't'")) == 0


async def test_in_memory_sqlite_needs_no_directory() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        await ping(engine)
    finally:
        await engine.dispose()


async def test_ping_raises_when_database_cannot_be_opened(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}")  # a directory, not a file
    try:
        with pytest.raises(exc.OperationalError):
            await ping(engine)
    finally:
        await engine.dispose()


async def test_postgresql_engine_is_pooled_and_pre_pinged() -> None:
    engine = create_engine("postgresql+asyncpg://ndxp@db.invalid/ndxp", pool_size=7)
    try:
        assert engine.dialect.driver == "asyncpg"
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
        assert engine.pool._pre_ping  # no public accessor
    finally:
        await engine.dispose()


async def test_session_factory_does_not_expire_on_commit(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ndxp.db'}")
    try:
        factory = session_factory(engine)
        assert factory.kw["expire_on_commit"] is False
    finally:
        await engine.dispose()


@pytest.mark.parametrize("agency_id", ["a", "1mps", "Mps", "mps_x", "m" * 33])
def test_agency_id_is_validated(agency_id: str) -> None:
    with pytest.raises(ValueError, match="does not match"):
        Agency(id=agency_id, name="x", kind="other")


async def test_a_write_lock_held_past_the_busy_timeout_is_a_503_to_retry(
    sqlite_engine: AsyncEngine,
) -> None:
    async with sqlite_engine.connect() as holder, sqlite_engine.connect() as waiter:
        await holder.execute(text("CREATE TABLE t (x INTEGER)"))
        await holder.commit()
        await holder.execution_options(ndxp_sqlite_begin="IMMEDIATE")
        await holder.execute(text("SELECT 1"))  # holds the write lock from BEGIN IMMEDIATE
        await waiter.execute(text("PRAGMA busy_timeout=50"))
        with pytest.raises(exc.OperationalError) as locked:
            await waiter.execute(text("INSERT INTO t VALUES (1)"))
    assert database_busy(locked.value)
    info = error_info(locked.value)
    assert (info.status, info.code, info.headers) == (503, "unavailable", {"Retry-After": "1"})
    assert not database_busy(exc.OperationalError("SELECT", {}, Exception("no such table: t")))


async def test_concurrent_read_then_write_transactions_queue_instead_of_failing(
    sqlite_engine: AsyncEngine,
) -> None:
    """Each reads, then (after the others read too) writes: deferred transactions would fail the
    upgrade at once with "database is locked"; ``begin()`` ones wait for the write lock."""
    async with sqlite_engine.begin() as conn:
        await conn.run_sync(Agency.metadata.create_all)
    sessions = session_factory(sqlite_engine)

    async def create(i: int) -> None:
        async with sessions.begin() as session:
            assert await session.get(Agency, f"a{i}") is None
            await asyncio.sleep(0.01)  # let the others read meanwhile
            session.add(Agency(id=f"a{i}", name=f"A {i}", kind="other"))

    await asyncio.gather(*(create(i) for i in range(12)))
    async with sessions() as session:
        assert len((await session.scalars(select(Agency))).all()) == 12
