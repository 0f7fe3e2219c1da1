"""Tokens at the registry's door (when ``NDXP_AUTH_REQUIRE_TOKENS`` is true, the default).

An ASGI middleware rather than a route dependency because the cached ``GET /schemas/ids/{id}``
fast path answers before routing: the check has to wrap it too. Reads need any valid token (or
HTTP Basic client credentials); writes need ``registry:write``. ``POST /subjects/{subject}`` (is
this schema registered?) and ``POST /compatibility/...`` (would it be compatible?) change nothing
and count as reads. Health, readiness, metrics and the root stay open for probes.

Who may write what (ownership of a dataset's subject included) is decided by
:mod:`services.core.auth.registry_access`, the same rule the gateway's ``/registry`` proxy applies.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.auth.authenticator import Authenticator
from services.core.auth.principal import Principal
from services.core.auth.registry_access import OPEN_PATHS, authorize
from services.core.errors import NdxpError
from services.core.http.errors import error_info
from services.registry.errors import confluent_json


class RegistryAuth:
    """Authenticates every request but the open paths; answers 401/403/429 in Confluent's form."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator | None = scope.get("state", {}).get("authenticator")
        if authenticator is not None:  # None: this registry runs without tokens
            try:
                principal = await self.authorize(authenticator, scope)
            except NdxpError as exc:
                await confluent_json(error_info(exc))(scope, receive, send)
                return
            scope["state"]["principal"] = principal
        await self.app(scope, receive, send)

    @staticmethod
    async def authorize(authenticator: Authenticator, scope: Scope) -> Principal:
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        principal = await authenticator.authenticate(raw.decode("latin-1") if raw else None)
        authorize(principal, scope["method"], scope["path"])
        return principal
