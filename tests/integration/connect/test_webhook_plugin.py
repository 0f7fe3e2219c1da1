"""webhook-sink against a real receiver over HTTP(S): what arrives, signed, retried or refused."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.connectors.configs import config_errors
from services.connectors.plugin import SinkRecord
from services.connectors.plugins.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookSink,
    WebhookSinkConfig,
    verify_signature,
)
from services.connectors.secrets import UnresolvedReference
from services.core.local_kafka import free_port
from tests.fixtures.servers import serve_app
from tests.integration.connect.webhook_receiver import Receiver, self_signed, serve_tls

BASE_MILLIS = 1_741_944_615_123  # 2025-03-14T09:30:15.123Z


@dataclass
class Hook:
    receiver: Receiver
    url: str
    secret: str


@pytest.fixture
def hook() -> Iterator[Hook]:
    secret = f"s3cret-{uuid.uuid4().hex}"
    receiver = Receiver(secret)
    with serve_app(receiver.app()) as server:
        yield Hook(receiver, f"{server.url}/hook", secret)


def make_records(count: int, first: int = 0) -> list[SinkRecord]:
    topic = f"a{uuid.uuid4().hex[:10]}.people.v1"
    return [
        SinkRecord(
            topic=topic,
            partition=0,
            offset=first + i,
            timestamp=BASE_MILLIS + i,
            key=str(first + i),
            event_id=str(uuid.uuid4()),
            headers={},
            value={"id": first + i, "name": f"Người {first + i}", "age": 30},
            json={"id": first + i, "name": f"Người {first + i}", "age": 30},
        )
        for i in range(count)
    ]


def delivered(record: SinkRecord) -> dict[str, Any]:
    """The record as the receiver should see it."""
    millis = record.timestamp - BASE_MILLIS + 123
    return {
        "event_id": record.event_id,
        "key": record.key,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": f"2025-03-14T09:30:15.{millis:03d}Z",
        "value": record.json,
    }


@asynccontextmanager
async def running(url: str, secret: str, **config: Any) -> AsyncIterator[WebhookSink]:
    settings = {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05, **config}
    sink = WebhookSink(
        f"hook-{uuid.uuid4().hex[:8]}",
        WebhookSinkConfig.model_validate({"url": url, "secret": secret, **settings}),
    )
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.mark.parametrize(("batch_size", "requests"), [(1, 5), (2, 3), (100, 1)])
async def test_records_arrive_signed_in_order(hook: Hook, batch_size: int, requests: int) -> None:
    records = make_records(5)
    async with running(
        hook.url, hook.secret, batch_size=batch_size, headers={"x-consumer": "moh"}
    ) as sink:
        assert await sink.put(records) == []

    assert hook.receiver.records == [delivered(record) for record in records]
    arrivals = hook.receiver.arrivals
    assert len(arrivals) == requests
    assert len({arrival.delivery_id for arrival in arrivals}) == requests
    for arrival in arrivals:
        assert verify_signature(hook.secret, arrival.headers[SIGNATURE_HEADER], arrival.body)
        assert arrival.headers["content-type"] == "application/json"
        assert arrival.headers["x-consumer"] == "moh"
        assert "Người".encode() in arrival.body  # UTF-8, not \\u escapes


async def test_a_wrong_secret_fails_at_the_receiver(hook: Hook) -> None:
    records = make_records(3)
    async with running(hook.url, "not-the-secret") as sink:
        rejected = await sink.put(records)

    assert [r.record for r in rejected] == records
    assert all(r.reason == "HTTP 401" for r in rejected)
    assert hook.receiver.accepted == []
    assert [arrival.signed for arrival in hook.receiver.arrivals] == [False]  # not retried


async def test_two_503s_then_one_delivery_with_the_same_id(hook: Hook) -> None:
    records = make_records(4)
    hook.receiver.fail_next(2, 503)
    async with running(hook.url, hook.secret, max_attempts=5) as sink:
        assert await sink.put(records) == []

    arrivals = hook.receiver.arrivals
    assert len(arrivals) == 3
    assert len({arrival.delivery_id for arrival in arrivals}) == 1
    assert len({arrival.body for arrival in arrivals}) == 1
    assert all(arrival.signed for arrival in arrivals)
    assert len(hook.receiver.accepted) == 1
    assert hook.receiver.records == [delivered(record) for record in records]


async def test_429_waits_as_retry_after_asks(hook: Hook) -> None:
    hook.receiver.fail_next(1, 429, retry_after="1")
    async with running(hook.url, hook.secret, max_backoff_seconds=5) as sink:
        started = time.monotonic()
        assert await sink.put(make_records(1)) == []
        elapsed = time.monotonic() - started

    assert elapsed >= 0.9
    assert len(hook.receiver.accepted) == 1


async def test_a_400_rejects_its_request_at_once_and_the_next_goes_on(hook: Hook) -> None:
    records = make_records(4)
    hook.receiver.fail_next(1, 400, body='{"error": "unknown field age"}')
    async with running(hook.url, hook.secret, batch_size=2) as sink:
        rejected = await sink.put(records)

    assert [r.record for r in rejected] == records[:2]
    assert all(r.reason == 'HTTP 400: {"error": "unknown field age"}' for r in rejected)
    assert len(hook.receiver.arrivals) == 2
    assert hook.receiver.records == [delivered(record) for record in records[2:]]


async def test_the_retry_budget_spent_rejects_and_delivery_goes_on(hook: Hook) -> None:
    first, second = make_records(3), make_records(2, first=3)
    hook.receiver.fail_next(3, 503)
    async with running(hook.url, hook.secret, max_attempts=3) as sink:
        rejected = await sink.put(first)
        assert await sink.put(second) == []

    assert [r.record for r in rejected] == first
    assert all(r.reason == "HTTP 503, after 3 attempt(s)" for r in rejected)
    assert len(hook.receiver.arrivals) == 4
    assert hook.receiver.records == [delivered(record) for record in second]


async def test_an_endpoint_that_is_down_is_retried_then_rejected() -> None:
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}/hook"
    records = make_records(2)
    async with running(url, "secret", max_attempts=2) as sink:
        rejected = await sink.put(records)

    assert [r.record for r in rejected] == records
    assert all(r.reason.startswith("ConnectError") for r in rejected)
    assert all(r.reason.endswith("after 2 attempt(s)") for r in rejected)


async def test_a_timeout_is_retried_and_the_receiver_drops_the_repeat(hook: Hook) -> None:
    records = make_records(2)
    # the receiver takes the first request but answers after the sink stopped waiting
    hook.receiver.slow_next(1, 1.0)
    async with running(hook.url, hook.secret, timeout_seconds=0.3) as sink:
        assert await sink.put(records) == []

    arrivals = hook.receiver.arrivals
    assert len(arrivals) == 2
    assert arrivals[0].delivery_id == arrivals[1].delivery_id
    assert hook.receiver.repeats == 1
    assert hook.receiver.records == [delivered(record) for record in records]


async def test_https_to_a_self_signed_endpoint_needs_its_ca_file(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    secret = f"s3cret-{uuid.uuid4().hex}"
    receiver = Receiver(secret)
    records = make_records(2)
    with serve_tls(receiver.app(), certificate) as server:
        url = f"{server.url}/hook"
        async with running(url, secret, max_attempts=1) as sink:
            untrusted = await sink.put(records)
        async with running(url, secret, ca_file=str(certificate.cert_file)) as sink:
            assert await sink.put(records) == []

    assert all("CERTIFICATE_VERIFY_FAILED" in r.reason for r in untrusted)
    assert len(untrusted) == 2
    assert receiver.records == [delivered(record) for record in records]
    assert receiver.arrivals[0].headers[DELIVERY_HEADER] == receiver.accepted[0].delivery_id


async def test_the_secret_may_come_from_the_environment(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable = f"NDXP_TEST_HOOK_SECRET_{uuid.uuid4().hex[:8].upper()}"
    monkeypatch.setenv(variable, hook.secret)
    async with running(hook.url, f"${{env:{variable}}}") as sink:
        assert await sink.put(make_records(1)) == []
    assert [arrival.signed for arrival in hook.receiver.arrivals] == [True]

    monkeypatch.delenv(variable)
    with pytest.raises(UnresolvedReference, match=variable):
        async with running(hook.url, f"${{env:{variable}}}"):
            pass


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "http://example.org/hook",
            "must be https: http is allowed only to a loopback host (localhost, 127.0.0.1, ::1)",
        ),
        (
            "http://10.0.0.7:8080/hook",
            "must be https: http is allowed only to a loopback host (localhost, 127.0.0.1, ::1)",
        ),
        ("ftp://example.org/hook", "must be an absolute https:// URL"),
        ("https://example.org/hook", None),
        ("http://127.0.0.1:9000/hook", None),
        ("http://localhost/hook", None),
        ("http://[::1]:9000/hook", None),
    ],
)
def test_plain_http_is_refused_unless_the_host_is_loopback(url: str, problem: str | None) -> None:
    errors = config_errors(
        {
            "connector.class": "webhook-sink",
            "dataset": "moh.people",
            "url": url,
            "secret": "s3cret",
        }
    )
    if problem is None:
        assert errors == []
    else:
        assert errors == [{"name": "url", "message": problem}]  # without pydantic's prefix
