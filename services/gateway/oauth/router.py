"""The OAuth2 authorization server: token, introspection, revocation and the JWKS."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.core.http.json_body import JsonRoute
from services.core.http.openapi import OAUTH2, raises
from services.core.http.state import Core
from services.gateway import route_errors as errors
from services.gateway.deps import KeysDep, OAuthEndpointsDep
from services.gateway.oauth.metadata import INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH

router = APIRouter(tags=["oauth2"], route_class=JsonRoute)


@router.post(TOKEN_PATH, responses=raises(*errors.TOKEN, wire=OAUTH2))
async def token(request: Request, endpoints: OAuthEndpointsDep) -> Response:
    """Client credentials grant (RFC 6749 §4.4): an RFC 9068 JWT access token."""
    return await endpoints.handle(request, "token")


@router.post(INTROSPECT_PATH, responses=raises(*errors.INTROSPECT, wire=OAUTH2))
async def introspect(request: Request, endpoints: OAuthEndpointsDep) -> Response:
    """Token introspection (RFC 7662)."""
    return await endpoints.handle(request, "introspection")


@router.post(REVOKE_PATH, responses=raises(*errors.REVOKE, wire=OAUTH2))
async def revoke(request: Request, endpoints: OAuthEndpointsDep) -> Response:
    """Token revocation (RFC 7009)."""
    return await endpoints.handle(request, "revocation")


@router.get(JWKS_PATH)
async def jwks(keys: KeysDep, core: Core) -> Response:
    """The public signing keys (RFC 7517), the next one included before it signs."""
    max_age = core.settings.auth.jwks_cache_seconds
    return JSONResponse(await keys.jwks(), headers={"Cache-Control": f"public, max-age={max_age}"})
