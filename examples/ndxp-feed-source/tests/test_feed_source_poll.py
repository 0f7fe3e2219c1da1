"""FeedSource.poll as the worker calls it, against a feed served by a real HTTP server on a
loopback port (the standard library's, in a thread): no worker, no Kafka."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from ndxp_feed_source.feed import FeedError
from ndxp_feed_source.source import FeedSource


@dataclass
class Served:
    """What the server answers now, and the headers of each request it got."""

    body: bytes = b""
    status: int = 200
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:12] + '"'


def rss(*guids: str) -> bytes:
    items = "".join(
        f"<item><guid>{g}</guid><title>Bản tin {g}</title>"
        f"<pubDate>Tue, 01 Jul 2025 08:00:{g[1:]:0>2} +0700</pubDate></item>"
        for g in guids
    )
    return f"<rss version='2.0'><channel>{items}</channel></rss>".encode()


@pytest.fixture
def served() -> Iterator[tuple[Served, str]]:
    state = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append({k.lower(): v for k, v in self.headers.items()})
            if state.status == 200 and self.headers.get("If-None-Match") == state.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("ETag", state.etag)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/feed.rss"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def source(served: tuple[Served, str]) -> AsyncIterator[FeedSource]:
    plugin = FeedSource(
        "bulletins", FeedSource.Config(url=served[1], token="s3cret", max_bytes=400)
    )
    await plugin.start()
    try:
        yield plugin
    finally:
        await plugin.stop()


async def test_a_poll_sends_what_the_offset_has_not_seen_and_asks_conditionally(
    served: tuple[Served, str], source: FeedSource
) -> None:
    state, url = served
    state.body = rss("b1", "b2")

    first = await source.poll(None)
    again = await source.poll(first.offset)
    state.body = rss("b3", "b1", "b2")
    third = await source.poll(first.offset)

    assert [r.key for r in first.records] == ["b1", "b2"]
    assert first.offset == {
        "url": url,
        "seen": [r.position for r in first.records],
        "etag": Served(rss("b1", "b2")).etag,
    }
    assert again.records == []
    assert again.offset is first.offset  # unchanged: the worker commits nothing
    assert [r.key for r in third.records] == ["b3"]
    etag = first.offset["etag"]
    assert [r.get("if-none-match") for r in state.requests] == [None, etag, etag]
    assert {r["authorization"] for r in state.requests} == {"Bearer s3cret"}


async def test_an_offset_of_another_url_is_not_asked_conditionally(
    served: tuple[Served, str], source: FeedSource
) -> None:
    state, _ = served
    state.body = rss("b1")
    offset = {"url": "http://127.0.0.1:1/old.rss", "seen": [], "etag": state.etag}

    batch = await source.poll(offset)

    assert [r.key for r in batch.records] == ["b1"]
    assert "if-none-match" not in state.requests[0]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            503,
            "<html>  Bảo trì\n hệ thống </html>".encode(),
            "the feed answered 503: <html> Bảo trì hệ thống </html>",
        ),
        (200, rss("b1", "b2", "b3", "b4", "b5"), "the feed is larger than max_bytes (400)"),
        (200, b"not xml", "the document is not well-formed XML"),
    ],
)
async def test_a_feed_that_cannot_be_read_fails_the_poll_with_why(
    served: tuple[Served, str], source: FeedSource, status: int, body: bytes, reason: str
) -> None:
    state, _ = served
    state.status, state.body = status, body

    with pytest.raises(FeedError) as raised:
        await source.poll(None)

    assert reason in str(raised.value)
    assert "s3cret" not in str(raised.value)
