"""``/.well-known/oauth-authorization-server`` (RFC 8414)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.core.http.json_body import JsonRoute
from services.core.http.state import Core
from services.gateway.oauth.metadata import server_metadata

router = APIRouter(tags=["oauth2"], route_class=JsonRoute)


@router.get("/.well-known/oauth-authorization-server")
async def authorization_server(core: Core) -> dict[str, Any]:
    return server_metadata(core.settings.auth)
