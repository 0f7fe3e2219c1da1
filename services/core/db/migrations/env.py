"""Alembic environment for the control plane.

Called two ways: by ``services.core.db.migrate`` with an open connection in
``config.attributes["connection"]`` (the migration then runs inside that connection's
transaction), or by the ``alembic`` CLI with ``sqlalchemy.url`` set (else the URL the services
would use, from ``NDXP_*`` settings).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from services.core.config import ServiceSettings
from services.core.db.engine import create_engine
from services.core.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or ServiceSettings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate must write copy-and-move batch operations.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_engine() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_with_engine())
