"""The control-plane database engine: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.asyncio.session import _AsyncSessionContextManager

from services.core.files import private_file

# Execution option read by the SQLite "begin" hook: set it to "IMMEDIATE" to take the write lock
# when the transaction starts instead of at its first write (see migrate.py).
SQLITE_BEGIN = "ndxp_sqlite_begin"

_SQLITE_PRAGMAS = (
    # busy_timeout first: the journal_mode switch itself may have to wait for another connection.
    # Generous, because every writer of the hub (all services, all replicas) queues on one lock;
    # no transaction holds it across the network, so a long wait means a real overload.
    "PRAGMA busy_timeout=30000",
    # WAL lets readers run beside the one writer, which several replicas on one file need.
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    # In WAL mode NORMAL loses no committed transaction when a process dies, only (at most the
    # last ones) when the machine does; FULL fsyncs every commit. PostgreSQL is for production.
    "PRAGMA synchronous=NORMAL",
)


def create_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``).

    For a SQLite file, the file is created private (0600, its directory 0700 if missing) and every
    connection gets WAL journaling, foreign keys and a busy timeout; for PostgreSQL, a pool of
    ``pool_size`` pre-pinged connections.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, echo=echo, pool_size=pool_size, pool_pre_ping=True)

    path = sqlite_file(url)
    if path is not None:
        _private_database(path)
    engine = create_async_engine(parsed, echo=echo)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database, or SQLite in memory."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _private_database(path: Path) -> None:
    """The SQLite file holds secret hashes and encrypted keys: it is created 0600 before SQLite
    opens it, and SQLite gives its ``-wal`` and ``-shm`` files the database file's mode. Those of
    an earlier, wider file are narrowed too. A missing directory is created 0700; an existing one
    is the operator's (it may be shared, as ``/tmp`` is)."""
    private_file(path)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            private_file(companion)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Turn off the sqlite3 driver's own BEGIN handling (it skips BEGIN before DDL, so migrations
    # would not be transactional); _on_sqlite_begin emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    if mode not in {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}:
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


def database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (or "busy"): the write lock was not free
    within the busy timeout. Nothing was written; the request may be retried."""
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig).lower()
    return "database is locked" in message or "database is busy" in message


class Sessions(async_sessionmaker[AsyncSession]):
    """Sessions whose ``begin()`` is for writing: on SQLite its transaction takes the write lock
    at BEGIN (``BEGIN IMMEDIATE``), waiting up to the busy timeout for it. A deferred transaction
    that reads first and then writes cannot wait: SQLite refuses the upgrade at once with
    "database is locked" when another connection writes meanwhile. Sessions opened with
    ``sessions()`` stay deferred, so reads never queue behind writers. Keep ``begin()`` blocks to
    the database: nothing in them may await the network."""

    def __init__(self, engine: AsyncEngine, **kw: Any) -> None:
        super().__init__(engine, **kw)
        writes = engine
        if engine.dialect.name == "sqlite":
            writes = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        self._writes = async_sessionmaker(writes, **kw)

    def begin(self) -> _AsyncSessionContextManager[AsyncSession]:
        return self._writes.begin()


def session_factory(engine: AsyncEngine) -> Sessions:
    """Sessions on ``engine``; objects stay readable after commit (no lazy reload in async code)."""
    return Sessions(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raises if the database cannot be reached (used by ``/readyz``)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
