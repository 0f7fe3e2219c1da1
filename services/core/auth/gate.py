"""Tokens at a service's door, as an ASGI middleware: the one check the registry and connect run
before anything else (the registry's cached look-up by id answers before routing, so a route
dependency would come too late).

Every request but the open paths (health, readiness, metrics, the API documentation) is
authenticated when the service's
lifespan put an ``authenticator`` in the state (``NDXP_AUTH_REQUIRE_TOKENS``, the default); the
service's own rule then says what the principal may do (``authorize`` raises to refuse), and a
refusal is rendered in the service's error format (``render``: problem+json, or Confluent's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Final

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.auth.authenticator import Authenticator
from services.core.auth.errors import AUTHENTICATION_ERRORS
from services.core.auth.principal import Principal
from services.core.auth.registry_access import OPEN_PATHS
from services.core.errors import NdxpError
from services.core.http.docs import DOCS_PATHS
from services.core.http.errors import ErrorInfo, error_info

Authorize = Callable[[Principal, str, str], None]  # principal, method, path; raises to refuse
Render = Callable[[ErrorInfo], Response]
OPEN: Final = OPEN_PATHS | DOCS_PATHS


class TokenGate:
    # What the service's rule refuses with, and which requests it judges: the API document
    # lists them (documented_errors) on the operations they apply to.
    refusals: ClassVar[tuple[type[NdxpError], ...]] = ()

    @staticmethod
    def refuses(method: str, path: str) -> bool:
        return True

    @classmethod
    def documented_errors(cls, method: str, path: str) -> tuple[type[NdxpError], ...]:
        if path in OPEN:
            return ()
        return AUTHENTICATION_ERRORS + (cls.refusals if cls.refuses(method, path) else ())

    def __init__(self, app: ASGIApp, authorize: Authorize, render: Render) -> None:
        self.app, self.authorize, self.render = app, authorize, render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN:
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator | None = scope.get("state", {}).get("authenticator")
        if authenticator is not None:  # None: this service runs without tokens
            raw = dict(scope["headers"]).get(b"authorization")
            try:
                principal = await authenticator.authenticate(raw.decode("latin-1") if raw else None)
                self.authorize(principal, scope["method"], scope["path"])
            except NdxpError as exc:
                await self.render(error_info(exc))(scope, receive, send)
                return
            scope["state"]["principal"] = principal
        await self.app(scope, receive, send)
