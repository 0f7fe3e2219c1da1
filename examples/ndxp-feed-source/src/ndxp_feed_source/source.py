"""``feed-source``: an agency's RSS 2.0 or Atom feed, polled, one record per new item version.

Each poll GETs the feed (conditionally: a 304 means nothing changed) and parses it
(:mod:`.feed`). The offset remembers the positions of the items the current document holds:
an item whose position (id and ``updated`` time) is in it was sent before and is skipped, an
item with a new ``updated`` time is a new version and is sent, with a new event id. Items that
fall off the feed are forgotten with it, so the offset stays the size of the feed.

The worker commits the offset only once Kafka has the batch's records, so a restart neither loses
an item nor sends one twice, except the batch in flight when a worker died: that one is sent
again, with the same event ids. An item that cannot be mapped goes back with ``error`` and the
worker dead-letters it; its position is remembered too, so it is dead-lettered once, and again
only if the publisher corrects it into another broken form.

A feed that cannot be fetched or read (a transport error, an error status, a document too big, not
XML, with a DTD, neither RSS nor Atom) raises :class:`FeedError`: the worker retries the poll with
back-off and fails the connector, with this message, after its retry budget.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any, Final

import httpx

from ndxp_feed_source.config import FeedSourceConfig
from ndxp_feed_source.feed import FeedError, Item, parse_feed
from services.connectors.plugin import Batch, Offset, SourceConnector, SourceRecord

log = logging.getLogger(__name__)

VERSION: Final = version("ndxp-feed-source")
MAX_SEEN: Final = 10_000  # positions an offset keeps; a feed is its newest few hundred items
EXCERPT_BYTES: Final = 200  # of an error answer, quoted in the connector's status
ACCEPT: Final = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.1"
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


class FeedSource(SourceConnector):
    """The plugin class the ``feed-source`` entry point names."""

    Config = FeedSourceConfig
    config: FeedSourceConfig  # what the worker passes: an instance of Config
    version = VERSION
    client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        headers = {"Accept": ACCEPT, "User-Agent": f"ndxp-feed-source/{VERSION}"}
        if self.config.token is not None:
            headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
        # httpx drops Authorization on a redirect to another origin: the token stays with the feed
        self.client = httpx.AsyncClient(
            headers=headers, timeout=self.config.timeout_seconds, follow_redirects=True
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def poll(self, offset: Offset | None) -> Batch:
        previous = offset or {}
        # validators are for the URL they came from: a config may point elsewhere now
        asked = previous if previous.get("url") == self.config.url else {}
        fetched = await self._fetch(asked.get("etag"), asked.get("last_modified"))
        if fetched is None:
            return Batch([], offset)  # 304 Not Modified: nothing new, nothing to commit
        body, validators = fetched
        items = parse_feed(body, self.config.url)
        records, positions = unsent(items, previous.get("seen", ()))
        seen = positions[:MAX_SEEN]
        if len(positions) > MAX_SEEN:
            log.warning(
                "feed-source %s: the feed has %d items, the offset keeps %d; the rest are sent "
                "again if they reappear after this (with the same event ids)",
                self.name,
                len(positions),
                MAX_SEEN,
            )
        return Batch(records, {"url": self.config.url, "seen": seen, **validators})

    async def _fetch(
        self, etag: str | None, last_modified: str | None
    ) -> tuple[bytes, dict[str, str]] | None:
        """The document and its validators (ETag, Last-Modified), or None for 304."""
        assert self.client is not None  # noqa: S101 - the worker calls start() first
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with self.client.stream("GET", self.config.url, headers=headers) as response:
                if response.status_code == httpx.codes.NOT_MODIFIED:
                    return None
                if not response.is_success:
                    text = (await response.aread())[:EXCERPT_BYTES].decode("utf-8", "replace")
                    status = response.status_code
                    raise FeedError(f"the feed answered {status}: {' '.join(text.split())}")
                body = await self._read(response)
        except httpx.TransportError as exc:
            raise FeedError(f"GET {self.config.url}: {type(exc).__name__}: {exc}") from exc
        validators = {
            name: value
            for name, header in (("etag", "ETag"), ("last_modified", "Last-Modified"))
            if (value := response.headers.get(header))
        }
        return body, validators

    async def _read(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > self.config.max_bytes:
                raise FeedError(f"the feed is larger than max_bytes ({self.config.max_bytes})")
        return bytes(body)


def unsent(
    items: Sequence[Item], seen: Sequence[Mapping[str, Any]]
) -> tuple[list[SourceRecord], list[Mapping[str, Any]]]:
    """The records of the items whose position is not in ``seen`` (oldest first, each once), and
    the positions of every item of the document (the next offset's ``seen``, newest first as a
    feed lists them)."""
    sent = {canonical(position) for position in seen}
    positions: dict[str, Mapping[str, Any]] = {}
    new: list[Item] = []
    for item in items:
        key = canonical(item.position)
        if key not in positions and key not in sent:
            new.append(item)
        positions.setdefault(key, item.position)
    new.sort(key=lambda item: item.updated or _EARLIEST)  # stable: broken items first
    records = [SourceRecord(i.position, i.value, i.identity, i.error) for i in new]
    return records, list(positions.values())


def canonical(position: Mapping[str, Any]) -> str:
    return json.dumps(position, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
