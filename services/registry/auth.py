"""Tokens at the registry's door (when ``NDXP_AUTH_REQUIRE_TOKENS`` is true, the default).

An ASGI middleware rather than a route dependency because the cached ``GET /schemas/ids/{id}``
fast path answers before routing: the check has to wrap it too. Reads need any valid token (or
HTTP Basic client credentials); writes need ``registry:write``. ``POST /subjects/{subject}`` (is
this schema registered?) and ``POST /compatibility/...`` (would it be compatible?) change nothing
and count as reads. Health, readiness, metrics and the root stay open for probes.

Ownership (only the agency that owns a subject's dataset may evolve it) is checked by the
gateway's ``/registry`` proxy, which knows the catalogue; a direct caller with ``registry:write``
is trusted as an operator's tool. That check would go in :meth:`RegistryAuth.authorize`.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.auth.authenticator import Authenticator
from services.core.auth.errors import InsufficientScope
from services.core.auth.principal import REGISTRY_WRITE, Principal
from services.core.errors import NdxpError
from services.core.http.errors import error_info
from services.registry.errors import confluent_json

OPEN_PATHS: Final = frozenset({"/", "/healthz", "/readyz", "/metrics"})
_READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_POSTS: Final = (re.compile(r"^/subjects/[^/]+/?$"), re.compile(r"^/compatibility/"))


def is_write(method: str, path: str) -> bool:
    """Whether a request changes the registry (and so needs ``registry:write``)."""
    if method in _READ_METHODS:
        return False
    return not (method == "POST" and any(p.match(path) for p in _READ_POSTS))


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
        if is_write(scope["method"], scope["path"]) and not principal.has(REGISTRY_WRITE):
            raise InsufficientScope((REGISTRY_WRITE,))
        return principal
