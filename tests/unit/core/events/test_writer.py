"""EventWriter without a broker: the real codec, a sender that keeps what it is given instead of
Kafka, and an audit trail that keeps its records."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.core.audit import AuditEvent
from services.core.avro.codec import BatchInvalid, Contract, compile_contract, decode, encode
from services.core.config import KafkaSettings
from services.core.events.body import Format
from services.core.events.encode import PublishRequest, Target
from services.core.events.transactions import BeforeCommit, Outgoing, Placed
from services.core.events.writer import EventWriter, Writer, dataset_target, spans
from services.core.kafka.headers import decode_headers
from services.core.kafka.record_limits import RecordTooLarge, TopicLimits

SCHEMA = {
    "type": "record",
    "name": "Reading",
    "fields": [
        {"name": "station", "type": "string"},
        {"name": "pm25", "type": "double"},
    ],
}
TRACE = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")


class Limits(TopicLimits):
    """Every topic takes records up to ``limit`` bytes (no broker to ask)."""

    def __init__(self, limit: int) -> None:
        super().__init__(KafkaSettings(bootstrap=None))
        self.limit = limit

    async def max_bytes(self, topic: str) -> int | None:
        return self.limit


@dataclass
class Sender:
    """Takes batches as Kafka would, placing each topic's records at increasing offsets."""

    limits: TopicLimits = field(default_factory=lambda: Limits(1_000_000))
    sent: list[tuple[str, Outgoing]] = field(default_factory=list)
    ends: dict[str, int] = field(default_factory=dict)
    closed: bool = False

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed:
        self.sent.append((topic, batch))
        start = self.ends.get(topic, 0)
        self.ends[topic] = start + len(batch.values)
        placed = [(0, start + i) for i in range(len(batch.values))]
        if before_commit is not None and not await before_commit("tx-1", placed):
            raise RuntimeError("refused")
        return placed

    async def close(self) -> None:
        self.closed = True


@dataclass
class Trail:
    events: list[AuditEvent] = field(default_factory=list)
    fail: bool = False

    async def record(self, event: AuditEvent) -> str:
        if self.fail:
            raise OSError("the audit index is away")
        self.events.append(event)
        return str(len(self.events))


class Contracts:
    """The registry as the contract cache answers it: one subject, one version."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    async def version(self, subject: str, version: int | None, auth: str | None) -> Contract:
        return self.contract


def names() -> tuple[str, str]:
    agency = f"ag{uuid.uuid4().hex[:8]}"
    return agency, "air-quality"


def writer_for(contract: Contract, sender: Sender, trail: Trail | None = None) -> EventWriter:
    return EventWriter(Contracts(contract), sender, audit=trail, max_records=100)  # type: ignore[arg-type]


def target() -> Target:
    agency, dataset = names()
    topic = f"ndxp.{agency}.{dataset}.v1"
    return dataset_target(agency, dataset, topic, f"{topic}-value")


def published(provider: str, dataset: str, channel: str) -> float:
    labels = {"provider": provider, "dataset": dataset, "channel": channel}
    return REGISTRY.get_sample_value("ndxp_events_published_total", labels) or 0.0


def request(records: list[Any], **options: Any) -> PublishRequest:
    return PublishRequest(Format.JSON, json.dumps(records).encode(), **options)


async def test_a_publish_request_becomes_encoded_records_with_the_standard_headers() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    writer = writer_for(contract, Sender())
    trace = f"00-{'a' * 32}-{'b' * 16}-01"
    batch, schema_ids = await writer.encoded(
        to,
        request(
            [
                {"station": "HN-1", "pm25": 12.5},
                {"key": "k", "value": {"station": "HN-2", "pm25": 3}},
            ],
            traceparent=trace,
        ),
        client_id="client-1",
    )

    assert schema_ids == [7]
    assert [decode(v, contract) for v in batch.values] == [
        {"station": "HN-1", "pm25": 12.5},
        {"station": "HN-2", "pm25": 3.0},
    ]
    assert batch.keys == [None, b"k"]
    first, second = (decode_headers(h) for h in batch.headers)
    assert first["ndxp-producer"] == to.owner  # the agency, not a client
    assert first["ndxp-schema-id"] == "7"
    assert first["traceparent"] == trace  # the caller's trace goes on
    assert "ndxp-connector" not in first
    assert uuid.UUID(first["ndxp-event-id"]) != uuid.UUID(second["ndxp-event-id"])
    assert abs(batch.timestamp_ms / 1000 - time.time()) < 60


async def test_a_retried_request_with_its_key_repeats_the_event_ids() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    writer = writer_for(contract, Sender())
    body = [{"station": "HN-1", "pm25": 1.0}]
    ids = []
    for _ in range(2):
        batch, _ = await writer.encoded(to, request(body, idempotency_key="k-1"), client_id="c")
        ids.append(decode_headers(batch.headers[0])["ndxp-event-id"])
    assert ids[0] == ids[1]


async def test_a_bad_record_fails_the_batch_and_a_made_up_trace_is_replaced() -> None:
    contract = compile_contract(7, SCHEMA)
    sender = Sender()
    writer = writer_for(contract, sender)
    good = {"station": "HN-1", "pm25": 1.0}

    with pytest.raises(BatchInvalid) as refused:
        await writer.encoded(target(), request([good, {"station": 5}]), client_id="c")
    assert refused.value.status == 422
    assert [e["index"] for e in refused.value.errors or []] == [1]

    batch, _ = await writer.encoded(target(), request([good], traceparent="00-zz"), client_id="c")
    assert TRACE.fullmatch(decode_headers(batch.headers[0])["traceparent"])
    assert sender.sent == []  # encoding writes nothing


async def test_a_record_larger_than_the_topic_takes_is_413_before_anything_is_sent() -> None:
    contract = compile_contract(7, SCHEMA)
    sender = Sender(limits=Limits(600))
    writer = writer_for(contract, sender)
    records = [{"station": "HN-1", "pm25": 1.0}, {"station": "x" * 700, "pm25": 1.0}]

    with pytest.raises(RecordTooLarge) as refused:
        await writer.encoded(target(), request(records), client_id="c")
    assert refused.value.status == 413
    assert [e["index"] for e in refused.value.errors or []] == [1]
    assert sender.sent == []


async def test_a_connectors_batch_names_the_agency_the_connector_and_a_trace() -> None:
    contract = compile_contract(9, SCHEMA)
    to = target()
    values = [encode(contract, {"station": f"S{i}", "pm25": float(i)}) for i in range(3)]
    batch = EventWriter.batch(
        to, values, [b"a", None, b"c"], [b"e1", b"e2", b"e3"], schema_id=9, connector="aq-src"
    )

    headers = [decode_headers(h) for h in batch.headers]
    assert [h["ndxp-event-id"] for h in headers] == ["e1", "e2", "e3"]
    assert {h["ndxp-producer"] for h in headers} == {to.owner}
    assert {h["ndxp-connector"] for h in headers} == {"aq-src"}
    assert {h["ndxp-schema-id"] for h in headers} == {"9"}
    traces = {h["traceparent"] for h in headers}
    assert len(traces) == 1  # one trace for the batch
    assert TRACE.fullmatch(traces.pop())


async def test_write_sends_counts_under_agency_dot_dataset_and_audits() -> None:
    contract = compile_contract(9, SCHEMA)
    to = target()
    sender, trail = Sender(), Trail()
    writer = writer_for(contract, sender, trail)
    values = [encode(contract, {"station": "S", "pm25": 1.0}) for _ in range(4)]
    batch = EventWriter.batch(to, values, [None] * 4, [b"1", b"2", b"3", b"4"], schema_id=9)
    before = published(to.owner, to.dataset, "connector")

    placed = await writer.write(
        to, Writer(to.owner, "connector:aq", "connector"), batch, details={"connector": "aq"}
    )

    assert to.dataset == f"{to.owner}.air-quality"
    assert placed == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert sender.sent == [(to.topic, batch)]
    assert published(to.owner, to.dataset, "connector") == before + 4
    [event] = trail.events
    assert (event.action, event.actor_agency, event.actor_client) == (
        "publish",
        to.owner,
        "connector:aq",
    )
    assert (event.dataset, event.provider, event.records) == (to.dataset, to.owner, 4)
    assert event.bytes == sum(map(len, values))
    assert event.offsets == {0: [0, 3]}
    assert event.details == {"connector": "aq"}


async def test_an_audit_failure_is_logged_not_raised_the_batch_is_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    contract = compile_contract(9, SCHEMA)
    to = target()
    writer = writer_for(contract, Sender(), Trail(fail=True))
    batch = EventWriter.batch(
        to, [encode(contract, {"station": "S", "pm25": 1.0})], [None], [b"1"], schema_id=9
    )
    with caplog.at_level(logging.ERROR):
        placed = await writer.write(to, Writer(to.owner, "c", "gateway"), batch, details={})
    assert placed == [(0, 0)]
    assert "not in the audit trail" in caplog.text


async def test_an_empty_batch_is_not_sent_nor_audited() -> None:
    contract = compile_contract(9, SCHEMA)
    to = target()
    sender, trail = Sender(), Trail()
    writer = writer_for(contract, sender, trail)
    batch = EventWriter.batch(to, [], [], [], schema_id=9)
    assert await writer.write(to, Writer(to.owner, "c", "connector"), batch, details={}) == []
    assert sender.sent == []
    assert trail.events == []


async def test_the_publish_duration_is_observed_from_the_requests_start() -> None:
    contract = compile_contract(9, SCHEMA)
    to = target()
    writer = writer_for(contract, Sender())
    labels = {"dataset": to.dataset}
    await writer.account(
        to, Writer(to.owner, "c", "gateway"), [(0, 1)], size=10, details={},
        started=time.perf_counter() - 0.2,
    )  # fmt: skip
    assert REGISTRY.get_sample_value("ndxp_publish_duration_seconds_count", labels) == 1
    assert (REGISTRY.get_sample_value("ndxp_publish_duration_seconds_sum", labels) or 0) >= 0.2


def test_spans_are_the_first_and_last_offset_of_each_partition() -> None:
    assert spans([(1, 7), (0, 3), (1, 5), (0, 4)]) == {1: [5, 7], 0: [3, 4]}


async def test_close_closes_the_sender() -> None:
    sender = Sender()
    await writer_for(compile_contract(1, SCHEMA), sender).close()
    assert sender.closed


@dataclass
class Ledger:
    """Keeps what the writer tells it, in order; ``allow`` answers the intent."""

    allow: bool = True
    told: list[tuple[str, Any]] = field(default_factory=list)

    async def intend(self, transactional_id: str, placed: Placed, schema_ids: list[int]) -> bool:
        self.told.append(("intend", (transactional_id, placed, schema_ids)))
        return self.allow

    async def written(self, placed: Placed, schema_ids: list[int]) -> None:
        self.told.append(("written", (placed, schema_ids)))

    async def failed(self, *, committed_maybe: bool) -> None:
        self.told.append(("failed", committed_maybe))


async def test_publish_is_one_call_telling_the_ledger_around_the_commit() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    sender, trail, ledger = Sender(), Trail(), Ledger()
    writer = writer_for(contract, sender, trail)
    who = Writer(to.owner, "client-1", "gateway")
    records = [{"station": "HN-1", "pm25": 1.0}, {"station": "HN-2", "pm25": 2.0}]

    written = await writer.publish(
        to, who, request(records), ledger=ledger, details={"idempotency_key": "k"}
    )

    assert (written.placed, written.schema_ids) == ([(0, 0), (0, 1)], [7])
    assert ledger.told == [
        ("intend", ("tx-1", [(0, 0), (0, 1)], [7])),
        ("written", ([(0, 0), (0, 1)], [7])),
    ]
    [event] = trail.events
    assert event.details == {"schema_id": 7, "idempotency_key": "k"}
    assert (event.actor_client, event.records) == ("client-1", 2)


async def test_publish_tells_the_ledger_of_a_failure_and_whether_it_may_have_committed() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    who = Writer(to.owner, "c", "gateway")

    invalid = Ledger()
    with pytest.raises(BatchInvalid):
        await writer_for(contract, Sender()).publish(
            to, who, request([{"station": 1}]), ledger=invalid, details={}
        )
    assert invalid.told == [("failed", False)]  # nothing was sent

    refused = Ledger(allow=False)
    trail = Trail()
    with pytest.raises(RuntimeError, match="refused"):
        await writer_for(contract, Sender(), trail).publish(
            to, who, request([{"station": "S", "pm25": 1.0}]), ledger=refused, details={}
        )
    assert [step for step, _ in refused.told] == ["intend", "failed"]
    assert refused.told[-1] == ("failed", False)  # the intent was refused: never committed
    assert trail.events == []


async def test_a_cancelled_publish_still_finishes_and_close_waits_for_it() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    gate = asyncio.Event()

    class Slow(Sender):
        async def send(
            self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
        ) -> Placed:
            await gate.wait()
            return await super().send(topic, batch, before_commit)

    sender, trail, ledger = Slow(), Trail(), Ledger()
    writer = writer_for(contract, sender, trail)
    call = asyncio.create_task(
        writer.publish(to, Writer(to.owner, "c", "gateway"),
                       request([{"station": "S", "pm25": 1.0}]), ledger=ledger, details={})
    )  # fmt: skip
    await asyncio.sleep(0.05)
    call.cancel()  # the client went away while the batch was on its way
    closing = asyncio.create_task(writer.close(drain=5))
    await asyncio.sleep(0.05)
    assert not sender.closed  # close waits for the batch in flight
    gate.set()
    await closing
    assert sender.closed
    assert [step for step, _ in ledger.told] == ["intend", "written"]
    assert len(trail.events) == 1  # written, so accounted for


class Regrouped(Sender):
    """Kafka acknowledges the batch in a transaction that then aborts (another batch of its
    group refused), and commits it in the next one, at later offsets."""

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed:
        assert before_commit is not None
        aborted = [(0, 100 + i) for i in range(len(batch.values))]
        assert await before_commit("tx-1", aborted)
        await asyncio.sleep(0)  # the commit is under way while the audit record is written
        return await super().send(topic, batch, before_commit)


class CommitFails(Sender):
    """Kafka acknowledges every record, then the commit fails."""

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed:
        assert before_commit is not None
        assert await before_commit("tx-1", [(0, i) for i in range(len(batch.values))])
        raise ConnectionError("the broker went away during the commit")


async def test_the_audit_record_is_written_once_kafka_acknowledged_before_the_commit() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    trail = Trail()
    seen_at_commit: list[int] = []

    class Watched(Sender):
        async def send(
            self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
        ) -> Placed:
            placed = await super().send(topic, batch, before_commit)
            await asyncio.sleep(0)  # Kafka's commit round trip
            seen_at_commit.append(len(trail.events))
            return placed

    written = await writer_for(contract, Watched(), trail).publish(
        to, Writer(to.owner, "c", "gateway"), request([{"station": "S", "pm25": 1.0}]), details={}
    )
    assert seen_at_commit == [1]  # recorded while the commit was on its way, not after
    [event] = trail.events
    assert (event.action, event.offsets) == ("publish", spans(written.placed))


async def test_a_record_started_for_a_transaction_that_did_not_commit_is_annulled() -> None:
    contract = compile_contract(7, SCHEMA)
    to = target()
    who = Writer(to.owner, "c", "gateway")
    records = [{"station": "S", "pm25": 1.0}, {"station": "T", "pm25": 2.0}]

    trail = Trail()
    with pytest.raises(ConnectionError):
        await writer_for(contract, CommitFails(), trail).publish(
            to, who, request(records), details={}
        )
    started, abort = trail.events
    assert (started.action, started.records) == ("publish", 2)
    assert abort.action == "publish.abort"
    assert abort.details["annuls"] == "1"  # the id the trail gave the started record
    assert "did not commit" in abort.details["reason"]
    assert (abort.dataset, abort.actor_client) == (to.dataset, "c")

    trail = Trail()
    written = await writer_for(contract, Regrouped(), trail).publish(
        to, who, request(records), details={}
    )
    first, *later = trail.events  # the annulment and the committed record, in either order
    [annulled] = [event for event in later if event.action == "publish.abort"]
    [committed] = [event for event in later if event.action == "publish"]
    assert first.offsets == {0: [100, 101]}
    assert annulled.details["annuls"] == "1"
    assert committed.offsets == spans(written.placed) == {0: [0, 1]}
