"""Traces from ``ndxp up`` (tokens required, SQLite, its own broker) with the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointed at a real OTLP/HTTP receiver on loopback: a publish is one
trace from the caller's span through the gateway's request, encoding and the Kafka transaction;
each record's ``traceparent`` names the ``publish`` span; the pull that delivers the records is a
``deliver`` span linked to it; each batch of a stream is a trace of its own linked to it; a push
subscription's webhook delivery is a ``deliver`` span in connect, and the webhook request carries
its context on; a source connector's batch is a ``publish`` span its records name; and the JSON
log lines written during a request carry its ids."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from services.core.kafka.headers import TRACEPARENT, decode_headers
from tests.e2e.test_service_identities import READINGS, cli_env, create_dataset, file_connector
from tests.fixtures.cli import ndxp
from tests.fixtures.hub import Hub, running_hub
from tests.fixtures.otlp import Received, Receiver, otlp_receiver
from tests.fixtures.reader import DATASET, Reader, open_reader
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import read_topic
from tests.integration.connect.webhook_receiver import Receiver as WebhookReceiver

TOPIC = "demo.air-quality.v1"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Hub]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: spans leave at once, for the test
        "NDXP_LOG_FORMAT": "json",
        "NDXP_PUSH_ALLOWED_NETWORKS": "127.0.0.0/8",  # the test's webhook receiver
    }
    with running_hub(tmp_path_factory.mktemp("traced"), env) as running:
        yield running


def caller_context() -> tuple[str, str]:
    """A caller's own (trace id, span id), as its tracing library would send them."""
    return os.urandom(16).hex(), os.urandom(8).hex()


def publish(hub: Hub, trace_id: str, span_id: str, count: int = 3) -> None:
    value = {"station_code": "HN-01", "province_code": 1, "pm25": 12.5, "aqi": 40}
    batch = [{**value, "measured_at": i} for i in range(count)]
    answer = httpx.post(
        f"{hub.gateway}/v1/datasets/{DATASET}/events",
        json=batch,
        headers={**hub.headers("publish"), "traceparent": f"00-{trace_id}-{span_id}-01"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text


def pulled(reader: Reader, trace_id: str) -> list[dict[str, Any]]:
    """The records of the caller's trace, pulled (within a minute)."""
    url = f"{reader.hub.gateway}/v1/subscriptions/{reader.subscription}/events"
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(url, params={"wait": 5}, headers=reader.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        records = [
            r for r in answer.json()["records"] if trace_id in r["headers"].get("traceparent", "")
        ]
        if records:
            return records
        assert time.monotonic() < deadline, "the published records were never pulled"


def ids(traceparent: str) -> tuple[str, str]:
    """The (trace id, span id) a W3C ``traceparent`` names (its flags aside)."""
    version, trace_id, span_id, _ = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id


def named(name: str, **wanted: object) -> Any:
    """A filter for :meth:`Receiver.wait_for`: spans called ``name`` with these fields."""

    def found(spans: list[Received]) -> list[Received]:
        return [
            s
            for s in spans
            if s.name == name and all(getattr(s, k) == v for k, v in wanted.items())
        ]

    return found


def test_a_publish_is_one_trace_and_its_pull_links_to_it(hub: Hub, receiver: Receiver) -> None:
    reader = open_reader(hub)
    trace_id, caller_span = caller_context()
    publish(hub, trace_id, caller_span)

    # the gateway's request continues the caller's trace; publish, encode, send and the
    # transaction are inside it
    (request,) = receiver.wait_for(named("POST /v1/datasets/{dataset}/events", trace_id=trace_id))
    assert request.service == "ndxp-gateway"
    assert request.kind == Span.SPAN_KIND_SERVER
    assert request.parent_span_id == caller_span
    (published,) = receiver.wait_for(named(f"publish {TOPIC}", trace_id=trace_id))
    assert published.kind == Span.SPAN_KIND_PRODUCER
    assert published.parent_span_id == request.span_id
    assert published.attributes["ndxp.dataset"] == DATASET
    assert published.attributes["ndxp.channel"] == "gateway"
    (encoded,) = receiver.wait_for(named(f"encode {TOPIC}", trace_id=trace_id))
    assert encoded.parent_span_id == published.span_id
    assert encoded.attributes["messaging.batch.message_count"] == 3
    (sent,) = receiver.wait_for(named(f"send {TOPIC}", trace_id=trace_id))
    assert sent.parent_span_id == published.span_id
    (transaction,) = receiver.wait_for(named("kafka transaction", trace_id=trace_id))
    assert transaction.parent_span_id == sent.span_id

    # every record names the publish span; the pull's deliver span links to it
    records = pulled(reader, trace_id)
    assert len(records) == 3
    assert {r["headers"]["traceparent"] for r in records} == {
        f"00-{trace_id}-{published.span_id}-01"  # the caller's flags: sampled
    }
    link = (trace_id, published.span_id)
    (delivered,) = receiver.wait_for(
        lambda spans: [s for s in named(f"deliver {TOPIC}")(spans) if link in s.links]
    )
    assert delivered.service == "ndxp-gateway"
    assert delivered.kind == Span.SPAN_KIND_CONSUMER
    assert delivered.trace_id != trace_id  # the consumer's request is a trace of its own
    assert delivered.attributes["ndxp.channel"] == "pull"
    assert delivered.attributes["ndxp.subscription"] == reader.subscription
    assert str(delivered.attributes["ndxp.consumer"]).startswith("reader-")
    (pull,) = receiver.wait_for(
        named("GET /v1/subscriptions/{subscription_id}/events", span_id=delivered.parent_span_id)
    )
    assert pull.trace_id == delivered.trace_id
    # the agreement's new reader schema, fetched from the registry within the delivery
    assert receiver.wait_for(
        lambda spans: [
            s
            for s in spans
            if s.service == "ndxp-registry" and s.parent_span_id == delivered.span_id
        ]
    )

    # probes and scrapes are not traced
    assert not [s for s in receiver.spans if "/readyz" in s.name or "/metrics" in s.name]


def test_each_streamed_batch_is_a_trace_linked_to_its_publish(hub: Hub, receiver: Receiver) -> None:
    reader = open_reader(hub)
    trace_id, caller_span = caller_context()
    with reader.streaming() as lines:
        publish(hub, trace_id, caller_span)
        deadline = time.monotonic() + 30
        while not any(trace_id in line for line in lines):
            assert time.monotonic() < deadline, lines
            time.sleep(0.2)
    (published,) = receiver.wait_for(named(f"publish {TOPIC}", trace_id=trace_id))
    link = (trace_id, published.span_id)
    streamed = receiver.wait_for(
        lambda spans: [s for s in named(f"deliver {TOPIC}")(spans) if link in s.links]
    )
    for delivered in streamed:
        assert delivered.attributes["ndxp.channel"] == "stream"
        assert delivered.attributes["ndxp.subscription"] == reader.subscription
        assert delivered.parent_span_id == ""  # not a child of a request that may last for days


async def test_a_source_connectors_batch_is_a_publish_span_its_records_name(
    hub: Hub, receiver: Receiver, tmp_path: Path
) -> None:
    topic = create_dataset(hub)
    name, definition = file_connector(tmp_path, topic, hub.data_dir)
    env = cli_env(hub, NDXP_CONNECT_URL=hub.url("connect"))
    applied = ndxp("connect", "apply", str(definition), env=env)
    assert applied.returncode == 0, applied.stderr
    records = await read_topic(f"127.0.0.1:{hub.kafka_port}", topic, len(READINGS))

    named_by = {ids(decode_headers(r.headers)[TRACEPARENT]) for r in records}
    published = receiver.wait_for(
        lambda spans: [
            s
            for s in named(f"publish {topic}", service="ndxp-connect")(spans)
            if (s.trace_id, s.span_id) in named_by
        ]
    )
    assert {(s.trace_id, s.span_id) for s in published} == named_by
    for batch in published:
        assert batch.kind == Span.SPAN_KIND_PRODUCER
        assert batch.parent_span_id == ""  # a connector's batch starts a trace
        assert batch.attributes["ndxp.channel"] == "connector"
        assert batch.attributes["ndxp.client"] == f"connector:{name}"


def test_json_log_lines_of_a_request_carry_its_trace(hub: Hub, receiver: Receiver) -> None:
    trace_id, caller_span = caller_context()
    publish(hub, trace_id, caller_span, count=1)
    (request,) = receiver.wait_for(named("POST /v1/datasets/{dataset}/events", trace_id=trace_id))
    deadline = time.monotonic() + 10
    while not (lines := _log_lines(hub, trace_id)):
        assert time.monotonic() < deadline, hub.log[-3000:]
        time.sleep(0.2)
    spans = {s.span_id for s in receiver.spans if s.trace_id == trace_id}
    assert {line["span_id"] for line in lines} <= spans
    assert request.span_id in {line["span_id"] for line in lines}
    assert all(line["request_id"] for line in lines)


def _log_lines(hub: Hub, trace_id: str) -> list[dict[str, Any]]:
    found = []
    for text in hub.log.splitlines():
        if text.startswith("{") and trace_id in text:
            entry = json.loads(text)
            if entry.get("trace_id") == trace_id:
                found.append(entry)
    return found


def test_a_push_delivery_links_to_its_publish_and_sends_its_context_on(
    hub: Hub, receiver: Receiver
) -> None:
    reader = open_reader(hub)
    read = httpx.get(
        f"{hub.gateway}/v1/subscriptions/{reader.subscription}", headers=reader.headers, timeout=30
    )
    assert read.status_code == 200, read.text
    endpoint = WebhookReceiver(secret="")
    with serve_app(endpoint.app()) as server:
        body = {
            "agreement": read.json()["agreement"],
            "name": "pushed",
            "start": "latest",
            "push": {"url": f"{server.url}/hook"},
        }
        created = httpx.post(
            f"{hub.gateway}/v1/subscriptions", json=body, headers=reader.headers, timeout=30
        )
        assert created.status_code == 201, created.text
        endpoint.secret = created.json()["push"]["secret"]
        trace_id, caller_span = caller_context()
        publish(hub, trace_id, caller_span)
        deadline = time.monotonic() + 60
        while len(endpoint.records) < 3:
            assert time.monotonic() < deadline, endpoint.arrivals
            time.sleep(0.2)

    (published,) = receiver.wait_for(named(f"publish {TOPIC}", trace_id=trace_id))
    link = (trace_id, published.span_id)
    # the webhook requests carry the delivery's context, for the consumer's own spans
    sent_on = {ids(a.headers["traceparent"]) for a in endpoint.arrivals if a.signed}

    def deliveries(spans: list[Received]) -> list[Received]:
        found = [
            s for s in named(f"deliver {TOPIC}", service="ndxp-connect")(spans) if link in s.links
        ]
        return found if {(s.trace_id, s.span_id) for s in found} >= sent_on else []

    for delivered in receiver.wait_for(deliveries):
        assert delivered.kind == Span.SPAN_KIND_CONSUMER
        assert delivered.attributes["ndxp.channel"] == "connector"
        assert delivered.attributes["ndxp.connector"] == created.json()["push"]["connector"]
