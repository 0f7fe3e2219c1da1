"""Tokens at the connect service's door (when ``NDXP_AUTH_REQUIRE_TOKENS`` is true, the default).

Reads (``GET``) need any valid token; everything else (creating, changing, pausing, deleting a
connector, altering its offsets, validating a config) needs the ``admin`` scope: a connector reads
an agency's systems with the worker's credentials, so only the hub's operators may set one up.
Health, readiness and metrics stay open for probes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.auth.authenticator import Authenticator
from services.core.auth.errors import InsufficientScope
from services.core.auth.principal import ADMIN
from services.core.auth.registry_access import OPEN_PATHS
from services.core.errors import NdxpError
from services.core.http.errors import error_info, problem_json

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConnectAuth:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator | None = scope.get("state", {}).get("authenticator")
        if authenticator is not None:  # None: this worker runs without tokens
            raw = dict(scope["headers"]).get(b"authorization")
            try:
                principal = await authenticator.authenticate(raw.decode("latin-1") if raw else None)
                if scope["method"] not in _READS and not principal.is_admin:
                    raise InsufficientScope((ADMIN,))
            except NdxpError as exc:
                await problem_json(error_info(exc))(scope, receive, send)
                return
            scope["state"]["principal"] = principal
        await self.app(scope, receive, send)
