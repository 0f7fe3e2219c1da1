"""``GET /v1/audit``: who received what. A provider sees who received its data, a consumer what it
received, any agency what it did itself, and an admin everything."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit.event import stored_fields
from services.core.audit.relay import topic_value
from services.core.auth.principal import Principal
from services.core.db.models import AuditRecord

Role = Literal["provider", "consumer", "actor", "any"]
MAX_LIMIT = 1000


def _visible(query: Select[Any], principal: Principal, role: Role) -> Select[Any]:
    me = principal.agency
    columns = {
        "provider": AuditRecord.provider_agency,
        "consumer": AuditRecord.consumer_agency,
        "actor": AuditRecord.actor_agency,
    }
    if role != "any":
        return query.where(columns[role] == me)
    if principal.is_admin:
        return query
    return query.where(or_(*(column == me for column in columns.values())))


async def search(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    role: Role = "any",
    action: str | None = None,
    dataset: str | None = None,
    agreement: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    """Matching records in chain order, ``limit`` at a time; ``next_after`` pages on."""
    query = _visible(select(AuditRecord), principal, role).where(AuditRecord.seq > after)
    for column, value in (
        (AuditRecord.action, action),
        (AuditRecord.dataset_id, dataset),
        (AuditRecord.agreement_id, agreement),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditRecord.time >= since)
    if until is not None:
        query = query.where(AuditRecord.time < until)
    limit = max(1, min(limit, MAX_LIMIT))
    async with sessions() as session:
        rows = (await session.scalars(query.order_by(AuditRecord.seq).limit(limit))).all()
    items = [topic_value(stored_fields(row)) for row in rows]
    next_after = rows[-1].seq if len(rows) == limit else None
    return {"items": items, "next_after": next_after}
