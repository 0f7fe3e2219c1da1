"""Connect's own credentials at the hub's registry, and the client credentials plugins use.

Which client connect is:

- the one it is given, the production path: ``NDXP_CONNECT_CLIENT_ID`` with
  ``NDXP_CONNECT_CLIENT_SECRET`` or ``NDXP_CONNECT_CLIENT_SECRET_FILE`` (a mounted container
  secret); its token is sent from the first call;
- else its own identity in the control plane (:mod:`services.core.auth.identities`: a client of
  the system agency, created on first start, secret in ``<data dir>/identities/connect.json``),
  sent once the registry asks for credentials, so a registry open on loopback never needs a
  gateway.

Tokens come from ``NDXP_CONNECT_TOKEN_URL``, or the gateway's token endpoint under
``NDXP_AUTH_ISSUER``. Registry reads need any valid token, so connect asks for ``catalog:read``
only, the narrowest scope there is. The gateway may not listen yet (``ndxp up`` starts the services
together) or be restarting: a registry call then waits for the token endpoint (up to
:data:`TOKEN_PATIENCE`) instead of failing its connector.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.client_credentials import (
    ClientAuth,
    ClientCredentials,
    ClientCredentialsAuth,
    TokenRefused,
    token_endpoint,
)
from services.core.auth.identities import service_identity
from services.core.auth.principal import CATALOG_READ
from services.core.avro.registry_client import RegistryUnauthorized
from services.core.config import ConnectSettings
from services.core.errors import NdxpError

__all__ = [
    "ClientAuth",
    "ClientCredentials",
    "ClientCredentialsAuth",
    "RegistryAuth",
    "TokenRefused",
    "registry_auth",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

SERVICE: Final = "connect"
SCOPES: Final = (CATALOG_READ,)
TOKEN_PATIENCE: Final = 60.0  # seconds a registry call waits for an unreachable token endpoint
_FIRST_WAIT: Final = 0.5
_LONGEST_WAIT: Final = 5.0


class CredentialsMisconfigured(NdxpError):
    code = "configuration_error"


@dataclass
class RegistryAuth:
    """The ``Authorization`` connect sends to the registry: a bearer token of its own client, or
    nothing (no client, or ``sending`` False until the registry first answers 401)."""

    credentials: ClientCredentials | None = None
    sending: bool = True
    patience: float = TOKEN_PATIENCE
    first_wait: float = _FIRST_WAIT

    async def header(self) -> str | None:
        if self.credentials is None or not self.sending:
            return None
        return f"Bearer {await self._token(self.credentials)}"

    async def call(self, request: Callable[[str | None], Awaitable[T]]) -> T:
        """``request(authorization)``, and once more with a new token if the registry refused
        the one held (revoked, signed with a key rotated away) or wanted one."""
        try:
            return await request(await self.header())
        except RegistryUnauthorized:
            if self.credentials is None:
                raise
            if self.sending:
                self.credentials.renew()
            self.sending = True
            return await request(await self.header())

    async def _token(self, credentials: ClientCredentials) -> str:
        """A token, waiting while the endpoint cannot answer (not listening, or a 5xx)."""
        waited, delay = 0.0, self.first_wait
        while True:
            try:
                return await credentials.token()
            except (httpx.TransportError, TokenRefused) as exc:
                if not _transient(exc):
                    raise
                if waited >= self.patience:
                    raise TokenRefused(
                        f"the token endpoint {credentials.endpoint} did not answer for "
                        f"{waited:.0f}s: {exc!s} (client {credentials.client_id!r})"
                    ) from exc
                log.warning("the token endpoint %s cannot answer yet (%s); waiting %.1fs",
                            credentials.endpoint, exc, delay)  # fmt: skip
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, _LONGEST_WAIT)


def _transient(exc: Exception) -> bool:
    if isinstance(exc, TokenRefused):
        return exc.answered is not None and exc.answered >= 500  # noqa: PLR2004 - server errors
    return True


async def registry_auth(
    settings: ConnectSettings,
    sessions: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
) -> RegistryAuth:
    """Connect's credentials at the registry: the client it is given, else its own identity."""
    token_url = settings.token_url or token_endpoint(settings.auth.issuer)
    given = given_secret(settings)
    if settings.client_id and given:
        return RegistryAuth(ClientCredentials(http, token_url, settings.client_id, given))
    own = await service_identity(sessions, settings.data_dir, SERVICE, SCOPES)
    credentials = ClientCredentials(http, token_url, own.client_id, own.secret)
    return RegistryAuth(credentials, sending=False)


def given_secret(settings: ConnectSettings) -> str | None:
    """The secret of the client connect is given, from the environment or a file; a client id
    without a secret (or the reverse) is a mistake said at start, not a 401 later."""
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    if settings.client_secret_file is not None:
        try:
            secret = settings.client_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialsMisconfigured(f"NDXP_CONNECT_CLIENT_SECRET_FILE: {exc}") from exc
    if bool(settings.client_id) != bool(secret):
        raise CredentialsMisconfigured(
            "NDXP_CONNECT_CLIENT_ID needs NDXP_CONNECT_CLIENT_SECRET or "
            "NDXP_CONNECT_CLIENT_SECRET_FILE, and a secret needs the client id"
        )
    return secret
