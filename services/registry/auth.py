"""Tokens at the registry's door (when ``NDXP_AUTH_REQUIRE_TOKENS`` is true, the default).

An ASGI middleware rather than a route dependency because the cached ``GET /schemas/ids/{id}``
fast path answers before routing: the check has to wrap it too. Reads need any valid token (or
HTTP Basic client credentials); writes need ``registry:write``. ``POST /subjects/{subject}`` (is
this schema registered?) and ``POST /compatibility/...`` (would it be compatible?) change nothing
and count as reads. Health, readiness, metrics and the root stay open for probes, and the API
documentation (``/docs``, ``/openapi.json``) for everyone.

Who may write what (ownership of a dataset's subject included) is decided by
:mod:`services.core.auth.registry_access`, the same rule the gateway's ``/registry`` proxy applies.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from services.core.auth.errors import InsufficientScope
from services.core.auth.gate import TokenGate
from services.core.auth.registry_access import NotOwner, authorize, is_write
from services.registry.errors import confluent_json


class RegistryAuth(TokenGate):
    """Authenticates every request but the open paths; answers 401/403/429 in Confluent's form."""

    refusals = (InsufficientScope, NotOwner)
    refuses = staticmethod(is_write)

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app, authorize, confluent_json)
