"""The authorization server's run-time pieces, opened by the gateway's lifespan: the key store
(with a signing key ensured at start), the authenticator every protected route uses, and the
OAuth2 endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from services.core.audit import AuditLog
from services.core.auth.authenticator import authentication
from services.core.http.state import CoreState
from services.gateway.oauth.adapter import OAuthEndpoints
from services.gateway.oauth.keys import KeyStore


@asynccontextmanager
async def oauth_resources(core: CoreState, audit: AuditLog) -> AsyncIterator[Mapping[str, Any]]:
    """``keys``, ``authenticator`` and ``oauth`` for the request state."""
    keys = KeyStore(core.sessions, core.settings)
    await keys.ensure_signing_key()
    async with authentication(core, own_keys=keys) as authenticator:
        endpoints = OAuthEndpoints(core.settings.auth, keys, authenticator, audit)
        yield {"keys": keys, "authenticator": authenticator, "oauth": endpoints}


def get_keys(request: Request) -> KeyStore:
    keys: KeyStore = request.state.keys
    return keys


def get_endpoints(request: Request) -> OAuthEndpoints:
    endpoints: OAuthEndpoints = request.state.oauth
    return endpoints


Keys = Annotated[KeyStore, Depends(get_keys)]
Endpoints = Annotated[OAuthEndpoints, Depends(get_endpoints)]
