"""An agency's feed server for tests: RSS 2.0 and Atom documents of numbered legal documents, served
with an ETag (304 to a matching If-None-Match) and, when given a token, only to its bearer.

``create_feed_app(feed, media_type)`` is a FastAPI app to serve with
``tests.fixtures.servers.serve_app``; the test changes ``feed.document`` to change the feed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request, Response

START = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
HANOI = timezone(timedelta(hours=7))


@dataclass
class Entry:
    number: int
    title: str
    updated: datetime  # and published: one date, as RSS has

    @property
    def id(self) -> str:
        return f"urn:moj:vbpl:{self.number}"


def doc(number: int, minutes: int, title: str = "") -> Entry:
    moment = START + timedelta(minutes=minutes)
    return Entry(number, title or f"Nghị định {number}/2025/NĐ-CP", moment)


def rss(entries: list[Entry], broken: str = "") -> str:
    """An RSS 2.0 document, newest first as feeds list them; ``broken`` is one more raw item."""
    items = "".join(
        f"<item><guid isPermaLink='false'>{e.id}</guid><title>{escape(e.title)}</title>"
        f"<link>/van-ban/{e.number}</link><category>Nghị định</category>"
        f"<pubDate>{e.updated:%a, %d %b %Y %H:%M:%S +0000}</pubDate></item>"
        for e in sorted(entries, key=lambda e: e.updated, reverse=True)
    )
    return f"<rss version='2.0'><channel><title>Văn bản mới</title>{items}{broken}</channel></rss>"


def atom(entries: list[Entry]) -> str:
    body = "".join(
        f"<entry><id>{e.id}</id><title>{escape(e.title)}</title>"
        f"<link rel='alternate' href='https://vbpl.example/van-ban/{e.number}'/>"
        f"<published>{e.updated.astimezone(HANOI).isoformat()}</published>"
        f"<updated>{e.updated.astimezone(HANOI).isoformat()}</updated></entry>"
        for e in entries
    )
    return f"<feed xmlns='http://www.w3.org/2005/Atom'><title>Công báo</title>{body}</feed>"


@dataclass
class Feed:
    """The ministry's feed server: the document it serves now, and what it was asked."""

    document: str
    token: str | None = None
    requests: list[dict[str, str]] = field(default_factory=list)  # headers of each GET
    not_modified: int = 0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.document.encode()).hexdigest()[:16] + '"'


def create_feed_app(feed: Feed, media_type: str) -> FastAPI:
    app = FastAPI()

    @app.get("/feeds/van-ban-moi")
    async def serve(request: Request) -> Response:
        feed.requests.append(dict(request.headers))
        if feed.token and request.headers.get("authorization") != f"Bearer {feed.token}":
            return Response("who are you?", 401)
        etag = feed.etag
        if request.headers.get("if-none-match") == etag:
            feed.not_modified += 1
            return Response(status_code=304, headers={"ETag": etag})
        return Response(feed.document.encode(), media_type=media_type, headers={"ETag": etag})

    return app
