"""Path segments that may hold a ``/``: routing on the path as the client spelled it.

Schema registry subjects are opaque strings, and file-like names (``mps/address.avsc``) are common
for schema references; a client sends one as ``/subjects/mps%2Faddress.avsc/versions``. The ASGI
server percent-decodes the whole path before routing, so the encoded slash becomes a separator and
no route matches. :class:`SegmentedPath` routes on ``raw_path`` instead: each segment is decoded
on its own, and a ``/`` (or ``%``) inside a segment stays escaped in ``scope["path"]`` (the
*routing form*), so ``[^/]+`` path parameters hold exactly one segment. Path parameters declared
``{name:segment}`` are decoded back to what the client meant; the registry access rule decodes the
segments it judges with the same :func:`decode_segment`, so the rule and the route always read the
same name.

Every spelling maps to one routing form and back: ``%2F`` is a slash inside a segment, ``%252F``
is the three characters ``%2F``, and a segment that is not UTF-8 decodes with U+FFFD (which the
subject check refuses).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, unquote, unquote_to_bytes

from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

_ESCAPES: Final = str.maketrans({"%": "%25", "/": "%2F"})
_DOT_SEGMENTS: Final = {".": "%2E", "..": "%2E%2E"}


def decode_segment(routed: str) -> str:
    """What one segment of a routing form means (the inverse of the escaping of ``%`` and ``/``)."""
    return unquote(routed, errors="replace")


def routing_path(raw_path: bytes) -> str:
    """The routing form of a raw (still percent-encoded) path: every segment decoded on its own,
    a ``%`` or ``/`` inside it escaped again."""
    if b"%" not in raw_path:  # the usual path: nothing to decode, nothing to escape
        return raw_path.decode(errors="replace")
    parts = (unquote_to_bytes(part).decode(errors="replace") for part in raw_path.split(b"/"))
    return "/".join(part.translate(_ESCAPES) for part in parts)


def encoded_path(routed: str) -> str:
    """A routing form as a raw path that routes the same way anywhere: every segment
    percent-encoded, dot segments too (an HTTP client would otherwise resolve ``..`` away)."""
    parts = (decode_segment(part) for part in routed.split("/"))
    return "/".join(_DOT_SEGMENTS.get(part) or quote(part, safe="") for part in parts)


def scope_routing_path(scope: Scope) -> str:
    """The routing form of an HTTP scope's path: from ``raw_path`` when the server gives it, else
    from the decoded path, where a ``/`` can only be a separator."""
    raw: bytes | None = scope.get("raw_path")
    return str(scope["path"]).replace("%", "%25") if raw is None else routing_path(raw)


class SegmentedPath:
    """Routes an app on its requests' routing form (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # in place: the request-context middleware outside reads the matched route from it
            scope["path"] = scope_routing_path(scope)
        await self.app(scope, receive, send)


class SegmentConvertor(Convertor[str]):
    """``{name:segment}``: one segment of a routing form, decoded to what the client meant."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return decode_segment(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


def register() -> str:
    """Make ``{name:segment}`` known to the router (idempotent); the convertor's name."""
    register_url_convertor("segment", SegmentConvertor())
    return "segment"
