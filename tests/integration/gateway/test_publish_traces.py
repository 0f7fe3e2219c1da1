"""The gateway's group commit, traced (in-memory spans, the real broker): batches that share a
Kafka transaction each see it, as the child of the first one's ``send`` span and a link from the
others'; a committer never makes a transaction the child of the request that started it."""

from __future__ import annotations

import asyncio
import uuid

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.core.config import KafkaSettings
from services.core.events.encode import Target
from services.core.events.transactions import Publisher
from services.core.events.writer import EventWriter, Writer
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.headers import TRACEPARENT, decode_headers
from services.core.kafka.producer_pool import ProducerPool
from services.core.kafka.record_limits import TopicLimits

BATCHES = 6


def ids(span: ReadableSpan) -> tuple[int, int]:
    context = span.get_span_context()
    return context.trace_id, context.span_id


async def test_batches_sharing_a_transaction_each_see_it(
    kafka_bootstrap: str, exported: InMemorySpanExporter
) -> None:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    topic = f"trace{uuid.uuid4().hex[:8]}.readings.v1"
    await ensure_topic(kafka, TopicSpec(topic, partitions=1))
    to = Target(topic.removesuffix(".v1"), "trace", topic, f"{topic}-value")
    who = Writer("trace", "client", "gateway")
    # one producer, so one committer
    pool = ProducerPool(kafka, kafka_bootstrap, 1)
    writer = EventWriter(None, Publisher(pool, 15.0, TopicLimits(kafka, kafka_bootstrap)))  # type: ignore[arg-type]

    async def publish(n: int) -> str:
        with writer.publishing(to, who):
            batch = writer.batch(to, [b"v%d" % n], [None], [b"e%d" % n], schema_id=1)
            await writer.send(topic, batch)
        return decode_headers(batch.headers[0])[TRACEPARENT]

    try:
        # the first alone; the others arrive together and share the next transaction
        headers = [await publish(0)]
        headers += await asyncio.gather(*(publish(n) for n in range(1, BATCHES)))
    finally:
        await writer.close()

    spans = exported.get_finished_spans()
    sends = {ids(s): s for s in spans if s.name == f"send {topic}"}
    publishes = [s for s in spans if s.name == f"publish {topic}"]
    transactions = [s for s in spans if s.name == "kafka transaction"]
    assert len(sends) == len(publishes) == BATCHES
    assert sorted(len(t.links) for t in transactions) == [0, BATCHES - 2]
    # every record names its own publish span
    own = {f"00-{t:032x}-{s:016x}-{p.get_span_context().trace_flags:02x}"
           for p in publishes for t, s in [ids(p)]}  # fmt: skip
    assert set(headers) == own
    seen: list[tuple[int, int]] = []
    for transaction in transactions:
        assert transaction.parent is not None
        first = (transaction.parent.trace_id, transaction.parent.span_id)
        assert first in sends, "a transaction's parent is the send of a batch it carries"
        others = [(link.context.trace_id, link.context.span_id) for link in transaction.links]
        assert all(other in sends for other in others)
        assert transaction.attributes is not None
        assert transaction.attributes["ndxp.batches"] == 1 + len(others)
        seen += [first, *others]
    assert sorted(seen) == sorted(sends)  # each batch in exactly one transaction
