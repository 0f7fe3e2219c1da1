"""ndxp's extra fields in Confluent-format answers, for the clients that ask for them.

Confluent's Java clients before 6.0.3/6.1.1 (and every client built on them) parse the registry's
answers with unknown fields refused, so a field Confluent does not send breaks them. The
registry's default answers are therefore Confluent's field for field; ndxp's additions (the
version and lint ``warnings`` of a registration, the ``lint`` level in ``/config``, the
``errors`` list of an error body) are sent only to a request carrying the query parameter
``ndxpExtras=true``. A query parameter rather than a header because it passes unchanged through
any proxy (the gateway's ``/registry`` included) and shows in access logs; Confluent's server
ignores query parameters it does not know, so an ndxp client can send it to any registry.

ndxp's own clients (the gateway and connect through :mod:`services.core.avro.registry_client`,
``ndxp schemas push``) always ask.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

EXTRAS_PARAM: Final = "ndxpExtras"
EXTRAS_QUERY: Final = {EXTRAS_PARAM: "true"}
_TRUE: Final = frozenset({"true", "1", "yes", "on"})

# Whether the request being answered asked for the extras; read by the routes and by the error
# renderer (:func:`services.core.http.errors.confluent_json`).
extras_wanted: ContextVar[bool] = ContextVar("extras_wanted", default=False)


def asks_for_extras(query_string: bytes | str) -> bool:
    """Whether a query string carries ``ndxpExtras`` with a true value (as FastAPI reads bools)."""
    text = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return any(k == EXTRAS_PARAM and v.lower() in _TRUE for k, v in parse_qsl(text))


class ConfluentExtras:
    """Sets :data:`extras_wanted` for the request, around everything that may answer it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if not query:  # the by-id fast path never has one; the flag's default is False
            await self.app(scope, receive, send)
            return
        token = extras_wanted.set(asks_for_extras(query))
        try:
            await self.app(scope, receive, send)
        finally:
            extras_wanted.reset(token)
