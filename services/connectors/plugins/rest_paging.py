"""Where a ``rest-source`` poll cycle stands in the API's pages, and the RFC 8288 ``Link`` header
that names the next page of APIs that page by link.

A cycle's offset is :class:`Cycle`'s fields: the watermark it asks after, the page to fetch next
(a page number, an offset, a cursor or a URL, by the paging style) and the latest watermark value
seen so far, so a worker that crashes mid-cycle resumes at the next page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from services.connectors.plugin import Offset


@dataclass(frozen=True)
class Cycle:
    """Where a poll cycle stands, as its offset stores it."""

    watermark: Any = None  # the cycle asks for the items after this one (None: all)
    next: Any = None  # the page to fetch: number, offset, cursor or URL (None: the first)
    max_seen: Any = None  # the latest watermark value seen so far in the cycle

    @classmethod
    def of(cls, offset: Offset | None) -> Cycle:
        offset = offset or {}
        watermark = offset.get("watermark")
        return cls(watermark, offset.get("next"), offset.get("max_seen", watermark))


_LINK = re.compile(
    r"<(?P<uri>[^>]*)>(?P<params>(?:\s*;\s*[^\s;,=]+(?:\s*=\s*(?:\"(?:[^\"\\]|\\.)*\"|[^\s;,]*))?)*)"
)
_LINK_PARAM = re.compile(
    r";\s*(?P<name>[^\s;,=]+)(?:\s*=\s*(?:\"(?P<quoted>(?:[^\"\\]|\\.)*)\"|(?P<token>[^\s;,]*)))?"
)


def parse_links(header: str) -> list[tuple[str, dict[str, str]]]:
    """The links of an RFC 8288 ``Link`` header value: (target, parameters with lower-case
    names); a parameter given twice keeps its first value, as §3 says."""
    links = []
    for match in _LINK.finditer(header):
        params: dict[str, str] = {}
        for param in _LINK_PARAM.finditer(match["params"]):
            value = param["quoted"] if param["quoted"] is not None else param["token"] or ""
            params.setdefault(param["name"].lower(), re.sub(r"\\(.)", r"\1", value))
        links.append((match["uri"].strip(), params))
    return links


def next_link(headers: Iterable[str], base: str) -> str | None:
    """The absolute URL of the ``rel="next"`` link in ``Link`` headers, or None."""
    for header in headers:
        for target, params in parse_links(header):
            if "next" in params.get("rel", "").lower().split():
                return str(httpx.URL(base).join(target))
    return None


def same_origin(url: str, other: str) -> bool:
    a, b = httpx.URL(url), httpx.URL(other)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
