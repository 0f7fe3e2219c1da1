"""``/v1/admin/clients/{client_id}``: rotate a client's secret, disable or enable it (``admin``)."""

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

router = APIRouter(prefix="/v1/admin/clients", tags=["admin"], route_class=JsonRoute)


@router.post("/{client_id}/rotate-secret", responses=raises(*errors.CLIENT))
async def rotate_secret(
    client_id: str, core: Core, _: AdminCaller, response: Response, identities: IdentityStore
) -> dict[str, Any]:
    issued = await agencies.rotate_secret(core.sessions, client_id)
    response.headers["Cache-Control"] = "no-store"
    await identities.changed()
    return agencies.issued_document(issued)


@router.post("/{client_id}/disable", responses=raises(*errors.DISABLE_CLIENT))
async def disable_client(
    client_id: str, core: Core, _: AdminCaller, identities: IdentityStore
) -> dict[str, Any]:
    client = await agencies.set_client_enabled(core.sessions, client_id, enabled=False)
    await identities.changed()
    return agencies.client_document(client)


@router.post("/{client_id}/enable", responses=raises(*errors.CLIENT))
async def enable_client(
    client_id: str, core: Core, _: AdminCaller, identities: IdentityStore
) -> dict[str, Any]:
    client = await agencies.set_client_enabled(core.sessions, client_id, enabled=True)
    await identities.changed()
    return agencies.client_document(client)
