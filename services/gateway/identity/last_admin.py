"""The hub keeps an admin: the admin API refuses a change that leaves no enabled admin client.

An admin client (scope ``admin``) of an enabled agency is how the admin API is reached at all;
disabling the last one, or the agency holding it, through that API would lock every operator
out of it (409 ``last_admin``). A second admin client lets the first go, its own caller included.
``ndxp clients|agencies disable`` on the hub's machine may do it anyway, with a warning: whoever
can run it there can enable the client again the same way.

The count and the change share one transaction that holds the write lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: the admin clients' rows ``FOR UPDATE``), so two admins disabling each
other at once cannot both pass the check.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.auth.principal import ADMIN
from services.core.db.engine import SQLITE_BEGIN
from services.core.db.models import Agency, Client
from services.core.errors import Conflict


class LastAdmin(Conflict):
    code = "last_admin"
    title = "Last admin client"


async def admin_clients(session: AsyncSession, *, lock: bool = False) -> list[str]:
    """The enabled admin clients of enabled agencies (``lock``: hold them for this transaction,
    which must not have run a statement yet)."""
    query = (
        select(Client.id, Client.scopes)
        .join(Agency, Agency.id == Client.agency_id)
        .where(Client.enabled.is_(True), Agency.enabled.is_(True))
    )
    if lock:
        await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        query = query.with_for_update()
    return [
        client_id for client_id, scopes in await session.execute(query) if ADMIN in scopes.split()
    ]


async def keep_an_admin(session: AsyncSession, before: list[str], change: str) -> None:
    """Raise :class:`LastAdmin` (the transaction then rolls back) if the hub had admin clients
    ``before`` the change just made in ``session`` and has none now."""
    await session.flush()
    if before and not await admin_clients(session):
        raise LastAdmin(
            f"{change} would leave the hub without an enabled admin client "
            f"(now: {', '.join(before)}); create or enable another admin client first"
        )
