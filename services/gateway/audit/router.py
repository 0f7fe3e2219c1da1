"""``/v1/audit``: the audit trail, as each agency may see it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.core.auth.deps import Authenticated
from services.core.bounded_json import Int64
from services.core.http.json_body import JsonRoute
from services.core.http.state import Core
from services.gateway.audit.trail import MAX_LIMIT, Role, search

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=JsonRoute)


@router.get("")
async def list_audit_records(
    principal: Authenticated,
    core: Core,
    role: Role = "any",
    action: str | None = None,
    dataset: str | None = None,
    agreement: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Annotated[Int64, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    return await search(
        core.sessions, principal, role=role, action=action, dataset=dataset,
        agreement=agreement, since=since, until=until, after=after, limit=limit,
    )  # fmt: skip
