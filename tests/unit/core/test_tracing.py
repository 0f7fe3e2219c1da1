"""Traces in one process: off by default (no provider, no exporter thread, no instrumentation),
turned on by the standard ``OTEL_*`` variables or ``NDXP_TRACING_*``, and with an in-memory
exporter: the ``publish`` span named by every record's ``traceparent``, the ``deliver`` span linked
to the publish spans of its records, and JSON log lines carrying the current span's ids."""

from __future__ import annotations

import json
import logging
import threading
import timeit
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from services.core import tracing
from services.core.config import ServiceSettings, TracingSettings
from services.core.db.models import Agreement
from services.core.events.encode import Target
from services.core.events.writer import EventWriter, Writer
from services.core.http.service import create_service_app
from services.core.kafka.headers import TRACEPARENT, decode_headers
from services.core.logging import JsonFormatter
from services.core.sharing.delivery import Deliverer

OTEL = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "NDXP_TRACING_EXPORTER",
    "NDXP_TRACING_ENDPOINT",
    "OTEL_SDK_DISABLED",
)
TO = Target("moh.cases", "moh", "moh.cases.v1", "moh.cases.v1-value")
WHO = Writer("moh", "client-1", "gateway")


@pytest.fixture
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL:
        monkeypatch.delenv(name, raising=False)


def by_name(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (found,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return found


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_otel_env")
def test_traces_are_off_unless_an_exporter_or_endpoint_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert TracingSettings().chosen == "none"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert TracingSettings().chosen == "otlp"
    assert TracingSettings().traces_url == "http://collector:4318/v1/traces"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:4318/traces")
    assert TracingSettings().traces_url == "http://other:4318/traces"
    monkeypatch.setenv("NDXP_TRACING_ENDPOINT", "http://ours:4318/v1/traces")
    assert TracingSettings().traces_url == "http://ours:4318/v1/traces"

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")  # the standard off switch
    assert TracingSettings().chosen == "none"
    monkeypatch.setenv("NDXP_TRACING_EXPORTER", "console")  # ndxp's wins
    assert TracingSettings().chosen == "console"
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")  # the standard kill switch wins over all
    assert TracingSettings().chosen == "none"
    monkeypatch.delenv("OTEL_SDK_DISABLED")

    monkeypatch.setenv("NDXP_TRACING_EXPORTER", "jaeger")
    with pytest.raises(ValidationError, match="otlp"):
        TracingSettings()


@pytest.mark.usefixtures("no_otel_env")
def test_off_means_no_provider_no_thread_no_instrumentation_and_no_spans() -> None:
    app = create_service_app("probe", ServiceSettings())

    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("OtelBatch")]
    with tracing.span("anything") as current:
        assert current is None
    assert tracing.current_traceparent() is None
    assert tracing.current_context() is None
    assert tracing.record_links([Kafka("t", [(TRACEPARENT, TRACEPARENT_A)])]) == []


@pytest.mark.usefixtures("no_otel_env")
def test_off_a_batch_keeps_the_callers_traceparent_or_gets_a_new_one() -> None:
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with EventWriter.publishing(TO, WHO):
        batch = EventWriter.batch(TO, [b"v"], [None], [b"e"], schema_id=1, traceparent=given)
        fresh = EventWriter.batch(TO, [b"v"], [None], [b"e"], schema_id=1)
    assert decode_headers(batch.headers[0])[TRACEPARENT] == given
    assert decode_headers(fresh.headers[0])[TRACEPARENT] != given


def test_off_costs_a_batch_a_few_microseconds_of_tracing(no_otel_env: None) -> None:
    """What a publish and a delivery pay for tracing while it is off: two no-op spans (about
    1.5 µs here; on, with a batching exporter, about 150 µs)."""
    deliverer = Deliverer(_no_schemas, None, channel="pull")
    records = [Kafka("t", [(TRACEPARENT, TRACEPARENT_A)])] * 500

    def both() -> None:
        with EventWriter.publishing(TO, WHO), deliverer.traced(records, {}):
            pass

    best = min(timeit.repeat(both, number=2_000, repeat=5)) / 2_000
    assert best < 20e-6, f"{best * 1e6:.2f} µs per batch"


# --- on, in memory ------------------------------------------------------------------------------

TRACEPARENT_A = b"00-11111111111111111111111111111111-2222222222222222-01"
TRACEPARENT_B = b"00-33333333333333333333333333333333-4444444444444444-01"


@dataclass
class Kafka:
    """A record as a Kafka consumer hands it out (what delivery reads of it)."""

    topic: str
    headers: list[tuple[str, bytes]] = field(default_factory=list)


async def _no_schemas(schema_id: int) -> object:
    raise AssertionError(f"no schema is fetched here: {schema_id}")


def test_a_batchs_records_name_its_publish_span(exported: InMemorySpanExporter) -> None:
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with EventWriter.publishing(TO, WHO):
        batch = EventWriter.batch(TO, [b"a", b"b"], [None, None], [b"1", b"2"], schema_id=1,
                                  traceparent=given)  # fmt: skip

    published = by_name(exported, "publish moh.cases.v1")
    assert published.kind == SpanKind.PRODUCER
    assert published.attributes is not None
    assert published.attributes["ndxp.dataset"] == "moh.cases"
    context = published.get_span_context()
    own = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert {decode_headers(h)[TRACEPARENT] for h in batch.headers} == {own}


def test_a_delivery_links_once_to_each_publish_span_of_its_records(
    exported: InMemorySpanExporter,
) -> None:
    granted = Agreement(
        id=str(uuid.uuid4()),
        dataset_id="moh.cases",
        provider_agency="moh",
        consumer_agency="hcm",
        reader_schema_id=2,
        valid_until=datetime(2099, 1, 1, tzinfo=UTC),
    )
    deliverer = Deliverer(_no_schemas, granted, channel="pull")
    records = [
        Kafka("moh.cases.v1", [(TRACEPARENT, TRACEPARENT_A)]),
        Kafka("moh.cases.v1", [(TRACEPARENT, TRACEPARENT_B)]),
        Kafka("moh.cases.v1", [(TRACEPARENT, TRACEPARENT_A)]),
        Kafka("moh.cases.v1", [(TRACEPARENT, b"not a traceparent")]),
        Kafka("moh.cases.v1"),
    ]
    with deliverer.traced(records, {"ndxp.subscription": "s-1"}) as current:
        assert current is not None
    with deliverer.traced([], {}) as nothing:
        assert nothing is None

    (delivered,) = exported.get_finished_spans()
    assert delivered.name == "deliver moh.cases.v1"
    assert delivered.kind == SpanKind.CONSUMER
    linked = {(f"{k.context.trace_id:032x}", f"{k.context.span_id:016x}") for k in delivered.links}
    assert linked == {("1" * 32, "2" * 16), ("3" * 32, "4" * 16)}
    assert delivered.attributes is not None
    assert delivered.attributes["ndxp.consumer"] == "hcm"
    assert delivered.attributes["ndxp.subscription"] == "s-1"
    assert delivered.attributes["messaging.batch.message_count"] == 5


def test_json_log_lines_carry_the_current_span(exported: InMemorySpanExporter) -> None:
    formatter = JsonFormatter()

    def line() -> dict[str, object]:
        record = logging.LogRecord("ndxp", logging.INFO, __file__, 1, "hello", None, None)
        found: dict[str, object] = json.loads(formatter.format(record))
        return found

    with tracing.span("work") as current:
        assert current is not None
        inside = line()
    context = current.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    outside = line()
    assert "trace_id" not in outside
    assert "span_id" not in outside
