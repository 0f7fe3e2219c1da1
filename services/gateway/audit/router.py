"""``/v1/audit``: the audit trail, as each agency may see it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime

from services.core.auth.deps import Authenticated
from services.core.bounded_json import Int64
from services.core.http.json_body import JsonRoute
from services.core.http.state import Core
from services.gateway.audit.trail import MAX_LIMIT, Role, search

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=JsonRoute)


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)  # as the time column compares it
    except OverflowError:  # 9999-12-31T23:59:59-14:00 lies past year 9999 in UTC
        raise ValueError("out of range in UTC (years 0001 to 9999)") from None


# A moment with its offset: a naive one, or one past year 9999 in UTC, is the client's mistake (422)
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


@router.get("")
async def list_audit_records(
    principal: Authenticated,
    core: Core,
    role: Role = "any",
    action: str | None = None,
    dataset: str | None = None,
    agreement: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    after: Annotated[Int64, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    return await search(
        core.sessions, principal, role=role, action=action, dataset=dataset,
        agreement=agreement, since=since, until=until, after=after, limit=limit,
    )  # fmt: skip
