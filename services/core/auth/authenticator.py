"""Who is calling: a bearer token or HTTP Basic client credentials turned into a Principal.

Every service builds one :class:`Authenticator` in its lifespan (:func:`authentication`) and the
FastAPI dependencies in ``deps.py`` use it from the request state. Bearer tokens go through the
:class:`~services.core.auth.verify.TokenVerifier`; HTTP Basic ``client_id:client_secret`` (what
Confluent clients send with ``basic.auth.user.info``) is checked against the client's stored hash,
with the cache of successful checks in ``secrets.py`` so a client does not pay for scrypt on every
call. Clients, agencies and revocations come from the process's in-memory
:class:`~services.core.auth.view.IdentityView`, not from a query per request. Either way the
client's rate limit is applied last.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from services.core.auth.errors import InvalidToken, MissingCredentials
from services.core.auth.keys import JwksKeySource, KeySource
from services.core.auth.principal import Principal
from services.core.auth.ratelimit import RateLimiter
from services.core.auth.secrets import VerifiedSecrets, dummy_hash, verified_secrets
from services.core.auth.store import ClientRecord
from services.core.auth.verify import Issuer, TokenVerifier
from services.core.auth.view import IdentityView
from services.core.config import AuthSettings
from services.core.http.state import CoreState

JWKS_PATH = "/oauth2/jwks"
_HTTP_TIMEOUT = 10.0


class Authenticator:
    """Turns an ``Authorization`` header into a :class:`Principal`, or raises 401/429."""

    def __init__(
        self,
        verifier: TokenVerifier,
        limiter: RateLimiter,
        *,
        issuer: str,
        secrets: VerifiedSecrets = verified_secrets,
    ) -> None:
        self.verifier = verifier
        self.store = verifier.store
        self.limiter = limiter
        self.issuer = issuer
        self.secrets = secrets

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise MissingCredentials
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            principal = (await self.verifier.verify(credentials)).principal
        elif scheme.lower() == "basic" and credentials:
            principal = await self.basic(credentials)
        else:
            raise InvalidToken("unsupported or empty Authorization header")
        self.limiter.check(principal.client_id)
        return principal

    async def basic(self, credentials: str) -> Principal:
        """HTTP Basic ``client_id:client_secret``: the client's own identity and all its scopes."""
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidToken("malformed Basic credentials") from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep or not client_id or not secret:
            raise InvalidToken("malformed Basic credentials")
        record = await self.store.client(client_id)
        # An unknown client is checked against a dummy hash: as slow to refuse as a wrong secret.
        if not await self.secret_matches(record, secret) or record is None:
            raise InvalidToken("invalid client credentials")
        if not record.enabled:
            raise InvalidToken("client disabled")
        if not record.agency_enabled:
            raise InvalidToken("agency disabled")
        return Principal(
            agency=record.agency_id,
            client_id=record.id,
            scopes=record.scopes,
            issuer=self.issuer,
        )

    async def secret_matches(self, record: ClientRecord | None, secret: str) -> bool:
        """Whether ``secret`` is the client's (scrypt in a thread unless recently checked)."""
        client_id, hashed = (record.id, record.secret_hash) if record else ("", dummy_hash())
        if self.secrets.hit(client_id, secret, hashed):
            return record is not None
        ok = await asyncio.to_thread(self.secrets.verify, client_id, secret, hashed)
        return ok and record is not None


def jwks_url(auth: AuthSettings) -> str:
    """Where the gateway publishes its keys: configured, or derived from the issuer."""
    return auth.jwks_url or auth.issuer.rstrip("/") + JWKS_PATH


@asynccontextmanager
async def authentication(
    core: CoreState, own_keys: KeySource | None = None
) -> AsyncIterator[Authenticator]:
    """The service's authenticator: the gateway passes its own key store as ``own_keys``; other
    services fetch the gateway's JWKS. Trusted external issuers always come from their JWKS."""
    auth = core.settings.auth
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT) as http:

        def fetched(url: str) -> JwksKeySource:
            return JwksKeySource(url, http, cache_seconds=auth.jwks_cache_seconds)

        issuers = [
            Issuer(auth.issuer, auth.audience, own_keys or fetched(jwks_url(auth)), own=True)
        ]
        issuers += [
            Issuer(
                trusted.issuer,
                trusted.audience,
                fetched(trusted.jwks_url),
                agency_claim=trusted.agency_claim,
                scope_claim=trusted.scope_claim,
            )
            for trusted in auth.trusted_issuers
        ]
        view = IdentityView(
            core.sessions,
            poll_seconds=auth.view_poll_seconds,
            max_age_seconds=auth.view_max_age_seconds,
        )
        async with view.polling():
            verifier = TokenVerifier(issuers, view, leeway=auth.leeway)
            limiter = RateLimiter(auth.rate_limit_per_second, auth.rate_limit_burst)
            yield Authenticator(verifier, limiter, issuer=auth.issuer)
