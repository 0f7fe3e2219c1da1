"""Content negotiation as Confluent Schema Registry's Jersey resources do it.

Every resource there produces ``application/vnd.schemaregistry.v1+json`` (server quality 1),
``application/vnd.schemaregistry+json`` (0.9) and ``application/json`` (0.5). Of the types the
``Accept`` header allows, the one with the client's highest ``q`` wins, the server's quality
breaking ties; no ``Accept`` is ``*/*``; a header that allows none of them is 406. The body is the
same JSON whichever type is chosen: only ``Content-Type`` follows the choice.
"""

from __future__ import annotations

import functools
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.errors import NdxpError
from services.core.http.errors import SCHEMA_REGISTRY_MEDIA_TYPE, ErrorRenderer, error_info

# What the registry produces, with the server's quality of each (Confluent's ``Versions``).
PRODUCED: Final = (
    (SCHEMA_REGISTRY_MEDIA_TYPE, 1.0),
    ("application/vnd.schemaregistry+json", 0.9),
    ("application/json", 0.5),
)


class NotAcceptable(NdxpError):
    status, code, title = 406, "not_acceptable", "Not acceptable"


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an ``Accept`` header with their ``q`` (malformed ``q``: 0)."""
    found = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        found.append((media.lower(), quality))
    return found


def _matches(media_range: str, media_type: str) -> bool:
    kind, _, sub = media_range.partition("/")
    want_kind, _, want_sub = media_type.partition("/")
    return kind in ("*", want_kind) and sub in ("*", want_sub)


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct Accept headers
def negotiate(accept: str | None) -> str | None:
    """The media type to answer ``accept`` with; None when it allows none (406)."""
    if not accept or not accept.strip():
        return SCHEMA_REGISTRY_MEDIA_TYPE
    ranges = _ranges(accept)
    best: tuple[float, float, str] | None = None
    for media_type, server_quality in PRODUCED:
        # the most specific range that covers the type sets its q (RFC 9110, 12.5.1)
        covering = [
            (r.count("*"), -q) for r, q in ranges if _matches(r, media_type) and r.count("/") == 1
        ]
        if not covering:
            continue
        quality = -min(covering)[1]
        if quality > 0 and (best is None or (quality, server_quality) > best[:2]):
            best = (quality, server_quality, media_type)
    return None if best is None else best[2]


class AcceptNegotiation:
    """Answers 406 to an ``Accept`` the registry cannot satisfy, and gives every JSON answer the
    media type negotiated (``exempt`` paths, such as health and docs, are left alone)."""

    def __init__(self, app: ASGIApp, render: ErrorRenderer, exempt: frozenset[str]) -> None:
        self.app, self.render, self.exempt = app, render, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        accept = dict(scope["headers"]).get(b"accept")
        chosen = negotiate(accept.decode("latin-1") if accept is not None else None)
        if chosen is None:
            refusal = NotAcceptable("HTTP 406 Not Acceptable")
            await self.render(error_info(refusal))(scope, receive, send)
            return
        if chosen == SCHEMA_REGISTRY_MEDIA_TYPE:
            await self.app(scope, receive, send)
            return

        async def send_as_chosen(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type") == SCHEMA_REGISTRY_MEDIA_TYPE:
                    headers["content-type"] = chosen
            await send(message)

        await self.app(scope, receive, send_as_chosen)
