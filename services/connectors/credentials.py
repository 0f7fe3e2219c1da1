"""OAuth2 client credentials, as a client of someone else's authorization server.

Connect uses it for its own identity at the hub's registry (``NDXP_CONNECT_TOKEN_URL``,
``NDXP_CONNECT_CLIENT_ID``, ``NDXP_CONNECT_CLIENT_SECRET``: a client of the hub's gateway with the
scopes its connectors need), and ``rest-source`` for an agency's API. A token is kept until shortly
before it expires; concurrent callers share one token request; a 401 from the resource server
means the token was revoked or keys rotated, so the caller calls :meth:`ClientCredentials.renew`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

import httpx

from services.core.errors import Unavailable

EARLY_SECONDS: Final = 30.0  # renew this long before expiry: clocks and queues are not exact
DEFAULT_LIFETIME: Final = 300.0  # when the server does not say (RFC 6749 §5.1 makes it optional)


class TokenRefused(Unavailable):
    code = "token_refused"
    title = "Token refused"


@dataclass
class ClientCredentials:
    http: httpx.AsyncClient
    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None
    _token: str | None = None
    _expires: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def token(self) -> str:
        """A valid access token, fetched when the one held is missing or about to expire."""
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                await self._fetch()
            assert self._token is not None  # noqa: S101 - _fetch sets it or raises
            return self._token

    def renew(self) -> None:
        """Forget the token held (the resource server refused it)."""
        self._token = None

    async def _fetch(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        response = await self.http.post(
            self.token_url, data=data, auth=(self.client_id, self.client_secret)
        )
        if response.status_code != 200:  # noqa: PLR2004
            raise TokenRefused(
                f"{self.token_url} refused client {self.client_id!r}: "
                f"{response.status_code} {response.text[:200]}"
            )
        body = response.json()
        lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME)
        self._token = str(body["access_token"])
        self._expires = time.monotonic() + max(0.0, lifetime - EARLY_SECONDS)


@dataclass
class RegistryAuth:
    """The ``Authorization`` connect sends to the registry: a bearer token of its own client, or
    nothing (a registry open on loopback, as in a one-machine hub)."""

    credentials: ClientCredentials | None = None

    async def header(self) -> str | None:
        if self.credentials is None:
            return None
        return f"Bearer {await self.credentials.token()}"
