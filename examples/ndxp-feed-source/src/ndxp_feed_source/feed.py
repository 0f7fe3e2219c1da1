"""Reading an RSS 2.0 or Atom (RFC 4287) document: pure functions of its bytes, no I/O.

Each ``<item>`` (RSS) or ``<entry>`` (Atom) becomes an :class:`Item`: a record of the shape below,
or the reason it cannot be one. A document that cannot be read as a whole raises
:class:`FeedError`.

The record: ``id`` (RSS ``guid``, else ``link``; Atom ``id``), ``title``, ``link`` (absolute),
``summary`` (RSS ``description``; Atom ``summary``, else ``content``), ``categories``,
``published`` and ``updated`` (aware ``datetime`` in UTC, to the millisecond). RSS has one date,
``pubDate`` (or Dublin Core's ``dc:date``, which many publishing systems write instead): it is
both ``published`` and ``updated``. An item without an id, a title or a readable ``updated`` date
cannot be a record: the contract requires them.

The document comes from another organisation's server, so it is parsed with ``defusedxml`` and
``forbid_dtd``: a document with a DTD is refused whole. RSS 2.0 and Atom need none, and without
one no entity can be declared, so nothing is expanded (no "billion laughs") and nothing outside
the document is read (no XXE).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

ATOM: Final = "{http://www.w3.org/2005/Atom}"
DUBLIN_CORE: Final = "{http://purl.org/dc/elements/1.1/}"
SOURCE_CHARS: Final = 2000  # of an unmappable item's XML kept for the dead-letter topic


class FeedError(Exception):
    """The document cannot be read at all: not XML, a DTD, or neither RSS 2.0 nor Atom."""


@dataclass(frozen=True)
class Item:
    """One item of the feed, as a record, or with ``error`` saying why it cannot be one.

    ``position`` names this version of the item: ``{"id", "updated"}``, or for an item that cannot
    be mapped ``{"id", "digest"}`` (its XML's digest, so a corrected item is new). It makes the
    event id, and the source remembers it to send each version once.
    """

    position: Mapping[str, Any]
    value: Mapping[str, Any] | None
    error: str | None = None
    identity: str | None = None  # the item's id: the Kafka key, so its versions stay in order
    updated: datetime | None = None


@dataclass
class _Fields:
    """What an item says, as text, before it is checked."""

    identity: str | None
    title: str | None
    link: str | None
    summary: str | None
    published: str | None
    updated: str | None
    elements: Mapping[str, str]  # record field → the element it came from, for the reasons
    categories: list[str] = field(default_factory=list)


def parse_feed(data: bytes, base_url: str = "") -> list[Item]:
    """The items of the RSS 2.0 or Atom document ``data``, in document order; relative links are
    resolved against ``base_url`` (the feed's own URL)."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise FeedError(f"the document is refused: {exc} (a feed needs no DTD or entity)") from None
    except ParseError as exc:
        raise FeedError(f"the document is not well-formed XML: {exc}") from None
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise FeedError("the RSS document has no <channel>")
        return [_item(_rss_fields(item, base_url), item) for item in channel.iterfind("item")]
    if root.tag == f"{ATOM}feed":
        entries = root.iterfind(f"{ATOM}entry")
        return [_item(_atom_fields(entry, base_url), entry) for entry in entries]
    raise FeedError(f"the document is neither RSS 2.0 (<rss>) nor Atom (<feed>): <{root.tag}>")


def _rss_fields(item: Element, base: str) -> _Fields:
    guid, link = _text(item.find("guid")), _text(item.find("link"))
    date, date_name = _text(item.find("pubDate")), "pubDate"
    if date is None and (dc := _text(item.find(f"{DUBLIN_CORE}date"))) is not None:
        date, date_name = dc, "dc:date"
    return _Fields(
        identity=guid or link,
        title=_text(item.find("title")),
        link=urljoin(base, link) if link else None,
        summary=_text(item.find("description")),
        published=date,
        updated=date,
        elements={"id": "guid> or <link", "title": "title", "updated": date_name, "published": ""},
        categories=[c for c in map(_text, item.iterfind("category")) if c],
    )


def _atom_fields(entry: Element, base: str) -> _Fields:
    href = next(
        (
            link.get("href")
            for link in entry.iterfind(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate" and link.get("href")
        ),
        None,
    )
    summary = _text(entry.find(f"{ATOM}summary")) or _text(entry.find(f"{ATOM}content"))
    return _Fields(
        identity=_text(entry.find(f"{ATOM}id")),
        title=_text(entry.find(f"{ATOM}title")),
        link=urljoin(base, href) if href else None,
        summary=summary,
        published=_text(entry.find(f"{ATOM}published")),
        updated=_text(entry.find(f"{ATOM}updated")),
        elements={"id": "id", "title": "title", "updated": "updated", "published": "published"},
        categories=[t for c in entry.iterfind(f"{ATOM}category") if (t := c.get("term"))],
    )


def _item(fields: _Fields, element: Element) -> Item:
    reasons = [
        f"the item has no <{fields.elements[name]}>"
        for name, value in (("id", fields.identity), ("title", fields.title))
        if value is None
    ]
    updated = _time(fields.updated, fields.elements["updated"], reasons, required=True)
    published = updated  # RSS: one date for both
    if fields.published != fields.updated:
        published = _time(fields.published, fields.elements["published"], reasons)
    if reasons or updated is None or fields.identity is None:
        return _unmappable(element, fields.identity, reasons)
    value = {
        "id": fields.identity,
        "title": fields.title,
        "link": fields.link,
        "summary": fields.summary,
        "categories": fields.categories,
        "published": published,
        "updated": updated,
    }
    position = {"id": fields.identity, "updated": iso(updated)}
    return Item(position, value, None, fields.identity, updated)


def _unmappable(element: Element, identity: str | None, reasons: list[str]) -> Item:
    source = tostring(element, encoding="unicode").strip()
    digest = hashlib.sha256(source.encode()).hexdigest()[:32]
    position = {"digest": digest} | ({"id": identity} if identity else {})
    # the item's own XML, cut: a feed is published, so the dead-letter topic may hold it
    return Item(position, {"source": source[:SOURCE_CHARS]}, "; ".join(reasons), identity)


def _text(element: Element | None) -> str | None:
    """The element's text, nested markup included (Atom's ``type="xhtml"``); None when empty."""
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def _time(
    text: str | None, name: str, reasons: list[str], *, required: bool = False
) -> datetime | None:
    if text is None:
        if required:
            reasons.append(f"the item has no <{name}>")
        return None
    moment = parse_time(text)
    if moment is None:
        quoted = json.dumps(text, ensure_ascii=False)
        reasons.append(f"<{name}> {quoted} is not a date-time with a UTC offset")
    return moment


_TIME_PARSERS: Final[tuple[Callable[[str], datetime], ...]] = (
    datetime.fromisoformat,
    parsedate_to_datetime,
)


def parse_time(text: str) -> datetime | None:
    """An RFC 822 (RSS) or RFC 3339 (Atom, ``dc:date``) date-time in UTC, cut to the
    millisecond (the contract's precision); None if it is neither or has no UTC offset."""
    for parse in _TIME_PARSERS:
        try:
            moment = parse(text)
        except (ValueError, TypeError, IndexError):
            continue
        if moment.tzinfo is None:  # RFC 822's "-0000" too: the instant would be a guess
            return None
        moment = moment.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return None


def iso(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DDTHH:MM:SS.fffZ``: how offsets and positions write it."""
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
