"""Traces (OpenTelemetry): one provider per process when they are turned on, and the spans ndxp
makes, from an HTTP publish to every delivery of its records.

Off by default (:class:`~services.core.config.TracingSettings`): no provider, no exporter thread,
no HTTP instrumentation, and :func:`span` hands back ``None`` at the cost of one check. Turned on,
each service process exports its spans (batched, from the SDK's thread) as ``ndxp-<service>``:

- the HTTP server span of every request (FastAPI instrumentation, not ``/healthz``, ``/readyz``
  or ``/metrics``), continuing the caller's ``traceparent``;
- ``publish <topic>`` (producer) around a batch's way through the
  :class:`~services.core.events.writer.EventWriter`, for the gateway's publish route and every
  source connector, with ``encode <topic>`` and ``send <topic>`` inside it, and the gateway's
  ``kafka transaction`` (:mod:`services.core.events.transactions`): a child of the first batch it
  carries, linked to the others that share it;
- each event's ``traceparent`` header is the ``publish`` span's context
  (:func:`current_traceparent`, :func:`services.core.events.encode.event_headers`), so that
- ``deliver <topic>`` (consumer) on pull, stream, push and every sink
  (:meth:`services.core.sharing.delivery.Deliverer.traced`) links to the ``publish`` span of the
  records it delivers, one link per distinct ``traceparent``;
- calls to the registry (contracts, the gateway's ``/registry`` proxy) and webhook requests carry
  the current span on (:func:`propagated`), so the registry's spans join the caller's trace.

JSON log lines carry the current ``trace_id`` and ``span_id`` (:mod:`services.core.logging`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services import __version__
from services.core.config import TracingSettings
from services.core.kafka.headers import TRACEPARENT

if TYPE_CHECKING:
    from fastapi import FastAPI

# Asked every few seconds by probes and Prometheus: not worth a trace each.
UNTRACED_URLS: Final = "/healthz,/readyz,/metrics"
FLUSH_MILLIS: Final = 2_000  # a stopping service waits no longer for a collector
_PROPAGATOR: Final = TraceContextTextMapPropagator()

__all__ = [
    "Context",
    "Span",
    "SpanKind",
    "configure_tracing",
    "current_context",
    "current_traceparent",
    "flush",
    "instrument",
    "link_to",
    "propagated",
    "record_links",
    "span",
    "use_provider",
]


class _State:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None


def configure_tracing(service: str, settings: TracingSettings) -> TracerProvider | None:
    """The process's provider, made on the first call whose settings turn traces on (later calls
    keep it: one per process, as the global one is); None while traces are off."""
    if _State.provider is not None:
        return _State.provider
    exporter = _exporter(settings)
    if exporter is None:
        return None
    names = {"service.namespace": "ndxp", "service.name": f"ndxp-{service}"}
    resource = Resource.create({**names, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider)
    # a plugin's own spans (the OpenTelemetry API's global provider) join ndxp's traces
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def _exporter(settings: TracingSettings) -> SpanExporter | None:
    chosen = settings.chosen
    if chosen == "none":
        return None
    if chosen == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 - its protobuf modules load only when traces are on
        OTLPSpanExporter,
    )

    return OTLPSpanExporter(endpoint=settings.traces_url)


def use_provider(provider: TracerProvider | None) -> None:
    """Make ``provider`` the one ndxp's spans go to (None: traces off); :func:`configure_tracing`
    calls it, and tests install an in-memory one."""
    _State.provider = provider
    _State.tracer = None if provider is None else provider.get_tracer("ndxp", __version__)


def instrument(app: FastAPI) -> None:
    """Trace ``app``'s requests, if traces are on (server spans only: no span per ASGI message)."""
    if _State.provider is None:
        return
    from opentelemetry.instrumentation.fastapi import (  # noqa: PLC0415 - loaded only when traces are on
        FastAPIInstrumentor,
    )

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_State.provider,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
    )


def flush() -> None:
    """Export the spans still queued (a service stopping)."""
    if _State.provider is not None:
        _State.provider.force_flush(FLUSH_MILLIS)


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Link] = (),
    parent: Context | None = None,
    root: bool = False,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span current within the block (a child of the current one, of ``parent``'s, or a new
    trace with ``root``), or ``None`` while traces are off. An exception leaving the block is
    recorded on it."""
    tracer = _State.tracer
    if tracer is None:
        return contextlib.nullcontext()
    return tracer.start_as_current_span(
        name,
        context=Context() if root else parent,
        kind=kind,
        attributes=dict(attributes) if attributes else None,
        links=links,
    )


def current_context() -> Context | None:
    """The current context, to hand a span's place to another task (None while traces are off)."""
    return None if _State.tracer is None else otel_context.get_current()


def link_to(context: Context | None) -> list[Link]:
    """A link to the span current in ``context``, if there is one."""
    if context is None:
        return []
    found = trace.get_current_span(context).get_span_context()
    return [Link(found)] if found.is_valid else []


def current_traceparent() -> str | None:
    """The current span's W3C ``traceparent``, if there is a span (traces on, or a caller's
    context made current)."""
    found = trace.get_current_span().get_span_context()
    if not found.is_valid:
        return None
    return f"00-{found.trace_id:032x}-{found.span_id:016x}-{found.trace_flags:02x}"


def propagated() -> dict[str, str]:
    """Headers that carry the current span to a service called over HTTP (the registry, a
    webhook): ``traceparent`` while there is one, else none."""
    current = current_traceparent()
    return {} if current is None else {TRACEPARENT: current}


def record_links(records: Iterable[Any]) -> list[Link]:
    """One link per distinct ``traceparent`` header among Kafka ``records`` (the spans that
    published them); none while traces are off."""
    if _State.tracer is None:
        return []
    seen: set[bytes] = set()
    links: list[Link] = []
    for record in records:
        for name, value in record.headers or ():
            if name == TRACEPARENT and value not in seen:
                seen.add(value)
                links.extend(link_to(_PROPAGATOR.extract({TRACEPARENT: value.decode("latin-1")})))
    return links
