"""webhook-sink judges the address it connects to, not the URL's text: every spelling of loopback
and every name resolving there is refused at connect time, with no connection made, unless the
operator allows the network (``NDXP_PUSH_ALLOWED_NETWORKS``).

Only loopback listeners are used; ``evil.test`` is served by a resolver stubbed in this process
(the function the sink's transport resolves with), so no test ever reaches another address.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.connectors.plugins.webhook import WebhookSink, WebhookSinkConfig
from services.core.http import guarded
from services.core.http.destinations import IPAddress, host_address
from tests.integration.connect.test_webhook_plugin import delivered, make_records
from tests.integration.connect.webhook_receiver import Receiver, self_signed, serve_tls

EVIL = "evil.test"
LOOPBACK = host_address("127.0.0.1")


@dataclass
class Listener:
    """A TCP listener on loopback that counts the connections it is offered."""

    port: int = 0
    connections: int = 0

    async def accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@asynccontextmanager
async def listening() -> AsyncIterator[Listener]:
    listener = Listener()
    server = await asyncio.start_server(listener.accepted, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listener


@dataclass
class Resolver:
    """``evil.test`` (and ``localhost.``) → 127.0.0.1; what it was asked, in order."""

    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        literal = host_address(host)
        if literal is not None:
            return [literal]
        assert host.rstrip(".") in (EVIL, "localhost"), f"the test resolves only {EVIL}"
        assert LOOPBACK is not None
        return [LOOPBACK]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    stub = Resolver()
    monkeypatch.setattr(guarded, "resolve_host", stub)
    return stub


@pytest.fixture
def refused_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default policy: the conftest's loopback allowance taken away."""
    monkeypatch.delenv("NDXP_PUSH_ALLOWED_NETWORKS")
    monkeypatch.delenv("NDXP_GATEWAY_PUSH_ALLOW_LOOPBACK", raising=False)


@asynccontextmanager
async def running(url: str, secret: str, **config: object) -> AsyncIterator[WebhookSink]:
    settings = {"backoff_seconds": 0.01, "max_backoff_seconds": 0.02, "max_attempts": 2}
    sink = WebhookSink(
        f"hook-{uuid.uuid4().hex[:8]}",
        WebhookSinkConfig.model_validate({"url": url, "secret": secret, **settings, **config}),
    )
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.mark.usefixtures("refused_by_default")
@pytest.mark.parametrize(
    ("host", "label"),
    [
        (EVIL, "loopback"),
        ("localhost.", "loopback"),
        ("127.1", "loopback"),
        ("2130706433", "loopback"),
        ("0x7f000001", "loopback"),
        ("0177.1", "loopback"),  # httpx itself refuses 0177.0.0.1 (the config check too)
        ("[::ffff:127.0.0.1]", "loopback"),
        ("0", "unspecified"),
    ],
)
async def test_a_refused_address_is_never_connected_to(
    resolver: Resolver, host: str, label: str
) -> None:
    records = make_records(2)
    async with listening() as listener, running(f"https://{host}:{listener.port}/h", "s") as sink:
        rejected = await sink.put(records)

    assert [r.record for r in rejected] == records
    reason = rejected[0].reason
    assert reason.startswith("ConnectError: the destination"), reason
    assert f"is {label}: not allowed on this hub" in reason
    assert reason.endswith("after 2 attempt(s)")
    assert listener.connections == 0
    assert resolver.asked == [host.strip("[]")] * 2  # judged afresh at every attempt


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, int, Path]]:
    certificate = self_signed(tmp_path, EVIL)
    receiver = Receiver(f"s3cret-{uuid.uuid4().hex}")
    with serve_tls(receiver.app(), certificate) as server:
        yield receiver, int(server.url.rsplit(":", 1)[1]), certificate.cert_file


async def test_a_name_that_resolves_to_loopback_is_refused_by_default(
    resolver: Resolver, refused_by_default: None, tls_receiver: tuple[Receiver, int, Path]
) -> None:
    receiver, port, ca_file = tls_receiver
    url = f"https://{EVIL}:{port}/hook"
    async with running(url, receiver.secret, ca_file=str(ca_file)) as sink:
        rejected = await sink.put(make_records(1))

    assert f"{EVIL} (127.0.0.1) is loopback" in rejected[0].reason
    assert receiver.arrivals == []


async def test_allowed_networks_let_the_same_name_through_with_its_host_and_sni(
    resolver: Resolver,
    tls_receiver: tuple[Receiver, int, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NDXP_PUSH_ALLOWED_NETWORKS", "127.0.0.0/8")
    receiver, port, ca_file = tls_receiver
    records = make_records(2)
    url = f"https://{EVIL}:{port}/hook"
    async with running(url, receiver.secret, ca_file=str(ca_file)) as sink:
        assert await sink.put(records) == []

    # connected to the checked address; the certificate was verified for evil.test (SNI) and
    # the request named it
    assert receiver.records == [delivered(record) for record in records]
    assert receiver.arrivals[0].headers["host"] == f"{EVIL}:{port}"
    assert resolver.asked == [EVIL]
