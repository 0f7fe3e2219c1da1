"""``/v1/admin/agencies``: the hub's member agencies and their clients (scope ``admin``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.core.auth.deps import IdentityStore
from services.core.http.json_body import JsonRoute
from services.core.http.openapi import raises
from services.core.http.state import Core
from services.gateway import route_errors as errors
from services.gateway.deps import AdminCaller
from services.gateway.identity import agencies
from services.gateway.identity.agencies import AgencyIn, ClientIn

router = APIRouter(prefix="/v1/admin/agencies", tags=["admin"], route_class=JsonRoute)


@router.post("", status_code=201, responses=raises(*errors.NEW_AGENCY))
async def create_agency(body: AgencyIn, core: Core, _: AdminCaller) -> dict[str, Any]:
    return agencies.agency_document(await agencies.create_agency(core.sessions, body))


@router.get("")
async def list_agencies(core: Core, _: AdminCaller) -> dict[str, Any]:
    found = await agencies.list_agencies(core.sessions)
    return {"items": [agencies.agency_document(a) for a in found]}


@router.get("/{agency_id}", responses=raises(*errors.AGENCY))
async def get_agency(agency_id: str, core: Core, _: AdminCaller) -> dict[str, Any]:
    return agencies.agency_document(await agencies.get_agency(core.sessions, agency_id))


@router.post("/{agency_id}/disable", responses=raises(*errors.DISABLE_AGENCY))
async def disable_agency(
    agency_id: str, core: Core, _: AdminCaller, identities: IdentityStore
) -> dict[str, Any]:
    agency = await agencies.set_agency_enabled(core.sessions, agency_id, enabled=False)
    await identities.changed()
    return agencies.agency_document(agency)


@router.post("/{agency_id}/enable", responses=raises(*errors.AGENCY))
async def enable_agency(
    agency_id: str, core: Core, _: AdminCaller, identities: IdentityStore
) -> dict[str, Any]:
    agency = await agencies.set_agency_enabled(core.sessions, agency_id, enabled=True)
    await identities.changed()
    return agencies.agency_document(agency)


@router.post("/{agency_id}/clients", status_code=201, responses=raises(*errors.NEW_CLIENT))
async def create_client(
    agency_id: str, body: ClientIn, core: Core, _: AdminCaller, response: Response
) -> dict[str, Any]:
    issued = await agencies.create_client(core.sessions, agency_id, body)
    response.headers["Cache-Control"] = "no-store"  # the secret must not linger in any cache
    return agencies.issued_document(issued)


@router.get("/{agency_id}/clients", responses=raises(*errors.AGENCY))
async def list_clients(agency_id: str, core: Core, _: AdminCaller) -> dict[str, Any]:
    clients = await agencies.list_clients(core.sessions, agency_id)
    return {"items": [agencies.client_document(c) for c in clients]}
