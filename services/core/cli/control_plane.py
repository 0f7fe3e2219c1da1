"""The control-plane database of commands that work on it directly (``ndxp agencies``,
``clients``, ``keys``, ``audit verify``, ...).

Such a command must find the hub's database as the services left it: a SQLite file that does not
exist, a data dir that does not exist, or a database that is not migrated to this ndxp's revision
means it is pointed at the wrong place (a typo in ``NDXP_DATA_DIR``), and creating an empty
database there would only hide that. ``ndxp db migrate`` is the command that creates and upgrades.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.cli.errors import SET_UP, CommandError
from services.core.config import ServiceSettings
from services.core.db.engine import create_engine, sqlite_file
from services.core.db.migrate import current_revision, head_revision

_HOW: Final = "run `ndxp db migrate` to create it, or set NDXP_DATA_DIR or NDXP_DATABASE_URL"


@asynccontextmanager
async def control_plane(settings: ServiceSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the existing control plane at this ndxp's revision, disposed afterwards;
    :class:`CommandError` when there is none."""
    url = settings.database_url
    path = sqlite_file(url)
    if path is not None and not path.exists():
        missing = "" if path.parent.is_dir() else f" (the data dir {path.parent} does not exist)"
        raise CommandError(f"no control plane at {path}{missing}: {_HOW}", SET_UP)
    shown = str(path) if path is not None else make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url, pool_size=settings.database.pool_size)
    try:
        found, head = await current_revision(engine), head_revision()
        if found is None:
            raise CommandError(f"the control plane at {shown} is not migrated: {_HOW}", SET_UP)
        if found != head:
            raise CommandError(
                f"the control plane at {shown} is at revision {found}, this ndxp needs {head}: "
                "run `ndxp db migrate`",
                SET_UP,
            )
        yield engine
    finally:
        await engine.dispose()
