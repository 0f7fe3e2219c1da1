"""Tokens at the connect service's door (when ``NDXP_AUTH_REQUIRE_TOKENS`` is true, the default).

Reads (``GET``) need any valid token, and show a caller without ``admin`` only the connectors that
act for its agency (:class:`~services.connectors.api.deps.Viewer`); everything else (creating,
changing, pausing, deleting a connector, altering its offsets, validating a config) needs the
``admin`` scope: a connector reads an agency's systems with the worker's credentials, so only the
hub's operators may set one up.
Health, readiness and metrics stay open for probes, the API documentation (``/docs``,
``/openapi.json``) for everyone.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp

from services.core.auth.errors import InsufficientScope
from services.core.auth.gate import TokenGate
from services.core.auth.principal import ADMIN, Principal
from services.core.http.errors import problem_json

_READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def is_write(method: str, path: str) -> bool:
    return method not in _READS


def admin_writes(principal: Principal, method: str, path: str) -> None:
    if is_write(method, path):
        principal.require_any(ADMIN)


class ConnectAuth(TokenGate):
    refusals = (InsufficientScope,)
    refuses = staticmethod(is_write)

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, admin_writes, problem_json)
