"""``/v1/me``: who the gateway thinks the caller is (handy to check a token or a client)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.core.auth.deps import Authenticated
from services.core.http.json_body import JsonRoute

router = APIRouter(prefix="/v1", tags=["identity"], route_class=JsonRoute)


@router.get("/me")
async def me(principal: Authenticated) -> dict[str, Any]:
    return {
        "agency": principal.agency,
        "client_id": principal.client_id,
        "scopes": sorted(principal.scopes),
        "issuer": principal.issuer,
        "token_id": principal.token_id,
        "expires_at": principal.expires_at,
    }
