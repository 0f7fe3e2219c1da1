"""The authorization server's run-time pieces, opened by the gateway's lifespan: the key store
(with a signing key ensured at start), the authenticator every protected route uses, and the
OAuth2 endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.core.audit import AuditLog
from services.core.auth.authenticator import Authenticator, authentication
from services.core.http.state import CoreState
from services.gateway.oauth.adapter import OAuthEndpoints
from services.gateway.oauth.keys import KeyStore


@dataclass(frozen=True)
class OAuthState:
    """What the authorization server holds for the gateway's lifetime."""

    keys: KeyStore
    authenticator: Authenticator
    endpoints: OAuthEndpoints


@asynccontextmanager
async def oauth_resources(core: CoreState, audit: AuditLog) -> AsyncIterator[OAuthState]:
    keys = KeyStore(core.sessions, core.settings)
    await keys.ensure_signing_key()
    async with authentication(core, own_keys=keys) as authenticator:
        endpoints = OAuthEndpoints(core.settings.auth, keys, authenticator, audit)
        yield OAuthState(keys, authenticator, endpoints)
