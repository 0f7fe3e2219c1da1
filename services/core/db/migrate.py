"""Apply the control-plane migrations, safely when several replicas start at once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db.engine import SQLITE_BEGIN

MIGRATIONS_DIR: Final = Path(__file__).with_name("migrations")

# Any constant will do as long as every ndxp process uses the same one: "ndxp" in ASCII.
_PG_LOCK_KEY: Final = 0x6E647870
# A replica waiting for another's SQLite migration retries this long; PostgreSQL waits on the lock.
_SQLITE_LOCK_WAIT: Final = 120.0


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for the ndxp migrations, built in code (there is no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # The option parser interpolates '%', which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


async def migrate(engine: AsyncEngine) -> str:
    """Upgrade the database to the head revision and return it.

    The whole upgrade runs in one transaction that first takes a database-wide lock (an advisory
    lock on PostgreSQL, the write lock of the file on SQLite), so replicas starting together run
    it one after the other and all but the first find nothing to do.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SQLITE_LOCK_WAIT
    while True:
        try:
            return await _upgrade(engine)
        except OperationalError as exc:
            # busy_timeout already waited a few seconds; a long migration elsewhere needs more.
            if "database is locked" not in str(exc.orig) or loop.time() > deadline:
                raise
        await asyncio.sleep(0.1)


async def _upgrade(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        async with conn.begin():
            if engine.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            return await conn.run_sync(_upgrade_sync)


def _upgrade_sync(conn: Connection) -> str:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    revision = _current_sync(conn)
    if revision is None:
        raise RuntimeError("no revision recorded after upgrade")
    return revision


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or ``None`` before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync)


def _current_sync(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
