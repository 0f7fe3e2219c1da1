"""Where a ``rest-source`` poll cycle stands: in the API's pages (with the RFC 8288 ``Link`` header
that names the next page of APIs that page by link) and in the items' watermark values.

A cycle's offset is :class:`Cycle`'s fields: the watermark it asks after and the identities of the
items at exactly that value that were already sent (``at``), the page to fetch next (a page
number, an offset, a cursor or a URL, by the paging style), and the latest watermark value seen so
far with the identities of the items at exactly it (``max_seen``, ``max_seen_at``), so a worker
that crashes mid-cycle resumes at the next page knowing all it knew. A finished cycle's offset is
``{"watermark": <max_seen>, "at": <max_seen_at>}``.

Why ``at``: APIs filter with ``>=`` and stamp items to the second (or the millisecond), so an item
stamped with exactly the last watermark may show up only after the cycle ended (its transaction
committed late, or it was written in the same second). Skipping every item at the watermark, as
this source once did, loses it; sending every one repeats the rest. Like Kafka Connect's JDBC source
in ``timestamp+incrementing`` mode, which resumes after (timestamp, id), the next cycle skips the
items before the watermark and those at it whose identity (the ``id_field`` value, else the
item's digest: what the record's position names) is in ``at``, and sends the rest. An API's items
need not come sorted by id, so ``at`` is the set of ids, not the largest one.

``at`` stays small, since few items share one exact watermark value; past :data:`MAX_AT` entries
(or :data:`MAX_AT_BYTES` of JSON, so an offset stays well inside a Kafka record) the oldest are
forgotten with a warning: if the API gives those again they are sent again, with their same event
ids, a repeat and never a loss.

An offset written before ``at`` existed (``{"watermark": T}``) reads as ``at`` empty: the first
cycle after the upgrade sends the items at exactly ``T`` once more. The other choice, skipping them
all as before, would repeat nothing but could lose, in that one cycle, the very items this change
is for; ndxp's rule is that records may repeat (with the same event ids, so consumers that
deduplicate see them once) but are never lost.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final

import httpx

from services.connectors.plugin import Offset

log = logging.getLogger(__name__)

MAX_AT: Final = 10_000
# two such lists and a next-page URL stay far below a Kafka record's default 1 MiB
MAX_AT_BYTES: Final = 256 * 1024


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _order(value: Any) -> tuple[int, Any]:
    """A sort key for watermark values: numbers (also as text), ISO 8601 times, else text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, value
    if isinstance(value, str):
        if _NUMBER.fullmatch(value):
            return 0, float(value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return 2, value
        return 1, moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return 2, canonical(value)


def is_after(value: Any, watermark: Any) -> bool:
    """Whether watermark field ``value`` is after ``watermark`` (None: before everything)."""
    if watermark is None:
        return value is not None
    if value is None:
        return False
    (kind, ours), (other, theirs) = _order(value), _order(watermark)
    if kind != other:  # the API changed formats: text order is the best guess left
        return str(value) > str(watermark)
    return bool(ours > theirs)


def same(value: Any, other: Any) -> bool:
    """Whether two watermark values are the same point (``...+07:00`` and ``...Z`` may be)."""
    return not is_after(value, other) and not is_after(other, value)


@dataclass(frozen=True)
class Cycle:
    """Where a poll cycle stands, as its offset stores it."""

    watermark: Any = None  # the cycle asks for the items after this one (None: all)
    at: tuple[Any, ...] = ()  # identities of the items at exactly ``watermark`` already sent
    next: Any = None  # the page to fetch: number, offset, cursor or URL (None: the first)
    max_seen: Any = None  # the latest watermark value seen so far in the cycle
    max_seen_at: tuple[Any, ...] = ()  # identities of the items at exactly ``max_seen``

    @classmethod
    def of(cls, offset: Offset | None) -> Cycle:
        offset = offset or {}
        watermark = offset.get("watermark")
        at = tuple(offset.get("at", ()))  # missing (an older offset): empty, see above
        max_seen = offset.get("max_seen", watermark)
        # the cycle starts at its watermark, knowing what was sent there
        max_seen_at = offset.get("max_seen_at", at if same(max_seen, watermark) else ())
        return cls(watermark, at, offset.get("next"), max_seen, tuple(max_seen_at))

    @cached_property
    def _sent(self) -> frozenset[str]:
        return frozenset(canonical(identity) for identity in self.at)

    def is_old(self, mark: Any) -> bool:
        """Whether watermark value ``mark`` is before the cycle's watermark (None: never)."""
        return mark is not None and self.watermark is not None and is_after(self.watermark, mark)

    def sent(self, mark: Any, identity: Any) -> bool:
        """Whether an earlier cycle sent the item with watermark value ``mark`` and ``identity``:
        it is before the watermark, or at exactly it and one of ``at``."""
        if mark is None or self.watermark is None or is_after(mark, self.watermark):
            return False
        return self.is_old(mark) or canonical(identity) in self._sent


class Latest:
    """The latest watermark value seen so far and the identities of the items at exactly it."""

    def __init__(self, value: Any, identities: Iterable[Any]) -> None:
        self.value = value
        # canonical JSON → the identity, oldest first (dicts keep their insertion order)
        self.identities = {canonical(identity): identity for identity in identities}

    def add(self, mark: Any, identity: Any) -> None:
        """Take in an item's watermark value (None: it has none) and identity."""
        if mark is None:
            return
        if is_after(mark, self.value):
            self.value, self.identities = mark, {}
        elif is_after(self.value, mark):
            return
        self.identities.setdefault(canonical(identity), identity)

    def bounded(self, connector: str) -> list[Any]:
        """The identities, the newest :data:`MAX_AT` (and :data:`MAX_AT_BYTES`) of them."""
        kept: list[Any] = []
        size = 0
        for text, identity in reversed(self.identities.items()):
            size += len(text.encode()) + 1
            if len(kept) == MAX_AT or size > MAX_AT_BYTES:
                log.warning(
                    "%s: more than %d items share the watermark value %s, more "
                    "than its offset keeps (a bounded offset): if the API gives the older ones "
                    "again they are sent again, with the same event ids",
                    connector,
                    len(kept),
                    self.value,
                )
                break
            kept.append(identity)
        kept.reverse()
        return kept


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
