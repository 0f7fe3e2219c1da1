"""``POST /v1/datasets/{dataset}/events`` over HTTP, against real Kafka and a real registry: what a
publisher gets back and exactly what lands on the topic."""

from __future__ import annotations

import asyncio
import json
import re
import struct
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from services.core.avro.codec import Contract, compile_contract, decode, encode
from services.core.config import AuthSettings, KafkaSettings
from services.core.kafka.admin import delete_topic
from services.core.kafka.consumer import create_consumer
from services.core.kafka.headers import decode_headers
from services.core.local_kafka import LocalKafka, free_port
from services.registry.app import create_app as create_registry
from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.gateway import gateway_settings, serve_gateway
from tests.fixtures.kafka import kafka_test_settings
from tests.fixtures.registry import registry_settings
from tests.fixtures.servers import serve_app
from tests.integration.gateway.catalog_data import dataset_body, problem, unique, wait_topic_gone

WRITER = ("publish", "registry:write", "catalog:read")
AVRO = "application/vnd.ndxp.avro"
NDJSON = "application/x-ndjson"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def reading_contract(agency: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Reading",
        "namespace": f"vn.gov.{agency}",
        "doc": "One air quality reading of a station.",
        "fields": [
            {"name": "station", "type": "string", "doc": "Station code."},
            {"name": "count", "type": "int", "doc": "Samples averaged."},
            {
                "name": "measured_at",
                "type": {"type": "long", "logicalType": "timestamp-millis"},
                "doc": "When it was measured.",
            },
            {"name": "pm25", "type": "double", "doc": "PM2.5 in µg/m³."},
            {"name": "note", "type": ["null", "string"], "default": None, "doc": "A remark."},
            *extra,
        ],
    }


def reading(i: int) -> dict[str, Any]:
    return {
        "station": f"HN-{i % 7:03d}",
        "count": i,
        "measured_at": "2026-03-14T09:30:15.123+07:00",
        "pm25": 35.5 + i,
        "note": None if i % 2 else "calibrated",
    }


@dataclass
class Published:
    """A dataset ready to publish to: its owner, id, topic and compiled contract."""

    owner: Caller
    id: str
    topic: str
    contract: Contract
    schema: dict[str, Any]

    @property
    def path(self) -> str:
        return f"/v1/datasets/{self.id}/events"


async def make_dataset(hub: Hub, owner: Caller, partitions: int = 3) -> Published:
    schema = reading_contract(owner.agency)
    body = dataset_body(owner.agency, schema=schema, partitions=partitions)
    async with hub.http(owner) as http:
        created = await http.post("/v1/datasets", json=body)
    assert created.status_code == 201, created.text
    doc = created.json()
    contract = compile_contract(doc["contract"]["id"], schema)
    return Published(owner, doc["id"], doc["topic"], contract, schema)


@pytest.fixture
async def owner(hub: Hub) -> Caller:
    return await hub.caller(*WRITER)


@pytest.fixture
async def dataset(hub: Hub, owner: Caller) -> Published:
    return await make_dataset(hub, owner)


async def consume(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every committed record of ``topic``, read as a read_committed consumer does."""
    consumer = create_consumer(KafkaSettings(bootstrap=bootstrap))
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + 30
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            assert time.monotonic() < deadline, "the topic could not be read in 30 s"
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(records)
        return sorted(found, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The log end offset of every partition: what was written, committed or not."""
    consumer = create_consumer(
        KafkaSettings(bootstrap=bootstrap), isolation_level="read_uncommitted"
    )
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topic)
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def _partitions(consumer: Any, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no metadata for {topic}")


async def counter_samples(hub: Hub, name: str) -> list[tuple[dict[str, str], float]]:
    """The labels and value of each ``<name>_total`` sample the gateway exposes."""
    text = await hub.gateway.scrape()
    return [
        (sample.labels, float(sample.value))
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
        if sample.name.endswith("_total")
    ]


async def published_total(hub: Hub, dataset: Published) -> float:
    for labels, value in await counter_samples(hub, "ndxp_events_published"):
        if labels.get("dataset") == dataset.id:
            assert labels == {
                "provider": dataset.owner.agency,
                "dataset": dataset.id,
                "channel": "gateway",
            }
            return value
    return 0.0


async def post(
    hub: Hub, caller: Caller, path: str, content: Any, content_type: str = "application/json",
    **headers: str,
) -> httpx.Response:  # fmt: skip
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    async with hub.http(caller) as http:
        return await http.post(
            path, content=data, headers={"Content-Type": content_type, **headers}
        )


# --- a valid batch ---------------------------------------------------------------------------


async def test_a_batch_is_written_with_its_headers(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    records = [reading(i) for i in range(5)]
    trace = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    before = await published_total(hub, dataset)

    answer = await post(hub, dataset.owner, dataset.path, records, traceparent=trace)

    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["records"] == 5
    assert body["schema_id"] == dataset.contract.schema_id
    offsets = body["offsets"]
    assert len(offsets) == 5
    partition = offsets[0]["partition"]  # unkeyed records of a batch share one partition
    assert [o["partition"] for o in offsets] == [partition] * 5
    first = offsets[0]["offset"]
    assert [o["offset"] for o in offsets] == list(range(first, first + 5))

    on_topic = await consume(kafka_bootstrap, dataset.topic)
    assert [(r.partition, r.offset) for r in on_topic] == [
        (o["partition"], o["offset"]) for o in offsets
    ]
    assert [r.value for r in on_topic] == [encode(dataset.contract, r) for r in records]
    event_ids = set()
    for record in on_topic:
        assert record.key is None
        headers = decode_headers(record.headers)
        assert set(headers) == {
            "ndxp-event-id",
            "ndxp-producer",
            "ndxp-schema-id",
            "ndxp-published-at",
            "traceparent",
        }
        assert UUID_TEXT.fullmatch(headers["ndxp-event-id"])
        event_ids.add(headers["ndxp-event-id"])
        assert headers["ndxp-producer"] == dataset.owner.agency
        assert headers["ndxp-schema-id"] == str(dataset.contract.schema_id)
        assert headers["traceparent"] == trace
        assert ISO_MS.fullmatch(headers["ndxp-published-at"])
        published_at = datetime.fromisoformat(headers["ndxp-published-at"])
        assert record.timestamp == int(published_at.timestamp() * 1000)
        assert abs(published_at.timestamp() - time.time()) < 60
    assert len(event_ids) == 5
    decoded = decode(on_topic[1].value, dataset.contract)
    assert decoded["station"] == "HN-001" and decoded["note"] is None
    assert await published_total(hub, dataset) == before + 5


async def test_without_traceparent_a_new_trace_starts(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    for given in (None, "not-a-traceparent", f"00-{'0' * 32}-{'1' * 16}-01"):
        extra = {} if given is None else {"traceparent": given}
        answer = await post(hub, dataset.owner, dataset.path, [reading(1)], **extra)
        assert answer.status_code == 201, answer.text
    traces = [
        decode_headers(r.headers)["traceparent"]
        for r in await consume(kafka_bootstrap, dataset.topic)
    ]
    assert len(traces) == 3
    assert all(re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", t) for t in traces)
    assert len(set(traces)) == 3


async def test_ndjson_envelopes_keys_and_event_ids(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    lines = [
        {"key": f"station-{i % 4}", "value": reading(i)} if i % 5 else reading(i) for i in range(40)
    ]
    lines.append({"key": {"b": 1, "a": [2, "x"]}, "value": reading(40), "event_id": "evt-40"})
    lines.append({"key": 123, "value": reading(41)})
    lines.append({"key": None, "value": reading(42)})
    body = "\n".join(json.dumps(line) for line in lines[:20]) + "\n\n  \r\n"
    body += "\r\n".join(json.dumps(line) for line in lines[20:]) + "\n"

    answer = await post(hub, dataset.owner, dataset.path, body.encode(), NDJSON)

    assert answer.status_code == 201, answer.text
    offsets = answer.json()["offsets"]
    assert answer.json()["records"] == len(lines) == len(offsets)
    on_topic = {(r.partition, r.offset): r for r in await consume(kafka_bootstrap, dataset.topic)}
    assert len(on_topic) == len(lines)
    placed = [on_topic[(o["partition"], o["offset"])] for o in offsets]
    by_key: dict[bytes | None, list[tuple[int, int]]] = {}
    for line, record in zip(lines, placed, strict=True):
        value = line.get("value", line)
        assert record.value == encode(dataset.contract, value)
        by_key.setdefault(record.key, []).append((record.partition, record.offset))
    assert set(by_key) == {
        None, b"station-0", b"station-1", b"station-2", b"station-3", b'{"a":[2,"x"],"b":1}',
        b"123",
    }  # fmt: skip
    for key, places in by_key.items():
        assert len({p for p, _ in places}) == 1, key  # one key, one partition
        assert [o for _, o in places] == sorted(o for _, o in places)  # in the order sent
    assert decode_headers(placed[40].headers)["ndxp-event-id"] == "evt-40"


async def test_a_record_with_value_and_key_fields_is_sent_in_an_envelope(
    hub: Hub, owner: Caller, kafka_bootstrap: str
) -> None:
    schema = {
        "type": "record",
        "name": "Pair",
        "namespace": f"vn.gov.{owner.agency}",
        "doc": "A key and a value.",
        "fields": [
            {"name": "key", "type": "string", "doc": "A key."},
            {"name": "value", "type": "long", "doc": "A value."},
        ],
    }
    async with hub.http(owner) as http:
        created = await http.post("/v1/datasets", json=dataset_body(owner.agency, schema=schema))
    assert created.status_code == 201, created.text
    path = f"/v1/datasets/{created.json()['id']}/events"

    bare = await post(hub, owner, path, [{"key": "a", "value": 1}])
    wrapped = await post(hub, owner, path, [{"value": {"key": "a", "value": 1}}])

    problem(bare, 422, "validation_failed")  # read as an envelope: 1 is not a Pair
    assert bare.json()["errors"][0]["index"] == 0
    assert bare.json()["errors"][0]["errors"][0]["path"] == "/value"
    assert wrapped.status_code == 201, wrapped.text
    (record,) = await consume(kafka_bootstrap, created.json()["topic"])
    assert record.key is None
    contract = compile_contract(created.json()["contract"]["id"], schema)
    assert decode(record.value, contract) == {"key": "a", "value": 1}


async def test_concurrent_batches_each_get_their_own_records_back(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    """Batches that share a transaction (group commit) still each get the offsets of exactly
    their records, in their order, and a key still picks one partition."""
    batches = [
        [{"key": f"k{b % 3}", "value": reading(b * 1000 + i)} if i % 2 else reading(b * 1000 + i)
         for i in range(40)]
        for b in range(24)
    ]  # fmt: skip

    answers = await asyncio.gather(
        *(post(hub, dataset.owner, dataset.path, batch) for batch in batches)
    )

    assert [a.status_code for a in answers] == [201] * 24, [a.text for a in answers]
    on_topic = {(r.partition, r.offset): r for r in await consume(kafka_bootstrap, dataset.topic)}
    assert len(on_topic) == 24 * 40
    seen: set[tuple[int, int]] = set()
    key_partitions: dict[bytes, set[int]] = {}
    for batch, answer in zip(batches, answers, strict=True):
        places = [(o["partition"], o["offset"]) for o in answer.json()["offsets"]]
        seen.update(places)
        for element, place in zip(batch, places, strict=True):
            record = on_topic[place]
            assert record.value == encode(dataset.contract, element.get("value", element))
            if record.key is not None:
                key_partitions.setdefault(record.key, set()).add(record.partition)
        for partition in {p for p, _ in places}:  # a batch's records keep their order
            offsets = [o for p, o in places if p == partition]
            assert offsets == sorted(offsets)
    assert len(seen) == 24 * 40
    assert all(len(partitions) == 1 for partitions in key_partitions.values())


async def test_a_dataset_without_its_topic_is_409(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    await delete_topic(KafkaSettings(bootstrap=kafka_bootstrap), dataset.topic)
    await wait_topic_gone(kafka_bootstrap, dataset.topic)

    answer = await post(hub, dataset.owner, dataset.path, [reading(1)])

    assert "does not exist" in problem(answer, 409, "topic_missing")["detail"]


# --- nothing of a bad batch is written ---------------------------------------------------------


async def test_one_bad_record_in_a_thousand_writes_nothing(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    records: list[Any] = [reading(i) for i in range(1000)]
    records[637]["count"] = "many"
    records[901] = {"key": "k", "value": {**reading(901), "pm25": None}, "event_id": "ok"}
    records[902] = {"value": reading(902), "event_id": ""}
    before = await end_offsets(kafka_bootstrap, dataset.topic)
    rejected_before = await _rejected(hub, dataset, "invalid")

    answer = await post(hub, dataset.owner, dataset.path, records)

    body = problem(answer, 422, "validation_failed")
    assert "3 of 1000 records" in body["detail"]
    listed = [(e["index"], [(f["path"], f["reason"]) for f in e["errors"]]) for e in body["errors"]]
    assert [(index, [path for path, _ in errors]) for index, errors in listed] == [
        (637, ["/count"]),
        (901, ["/value/pm25"]),
        (902, ["/event_id"]),
    ]
    assert listed[2][1][0][1] == "must be 1 to 128 visible ASCII characters"
    assert "int" in body["errors"][0]["errors"][0]["reason"]
    assert await end_offsets(kafka_bootstrap, dataset.topic) == before
    assert await consume(kafka_bootstrap, dataset.topic) == []
    assert await _rejected(hub, dataset, "invalid") == rejected_before + 1


async def _rejected(hub: Hub, dataset: Published, reason: str) -> float:
    text = await hub.gateway.scrape()
    for family in text_string_to_metric_families(text):
        if family.name == "ndxp_publish_rejected":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels == {
                    "dataset": dataset.id,
                    "reason": reason,
                }:
                    return float(sample.value)
    return 0.0


async def test_malformed_bodies(hub: Hub, dataset: Published) -> None:
    owner, path = dataset.owner, dataset.path
    problem(await post(hub, owner, path, b"[{"), 400, "invalid_body")
    problem(await post(hub, owner, path, {"station": "x"}), 400, "invalid_body")
    problem(await post(hub, owner, path, []), 400, "invalid_body")
    problem(await post(hub, owner, path, b'{"a": 1}\n{', NDJSON), 400, "invalid_body")
    problem(await post(hub, owner, path, b"a,b", "text/csv"), 415, "unsupported_media_type")
    problem(
        await post(hub, owner, path, [reading(1)], "application/json; charset=latin-1"),
        415,
        "unsupported_media_type",
    )
    problem(await post(hub, owner, path, b"\x00\x00", AVRO), 400, "invalid_body")
    problem(await post(hub, owner, path, [1, "x", None]), 422, "validation_failed")


# --- limits ----------------------------------------------------------------------------------


async def test_too_many_records_or_bytes_is_413(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    owner, path = dataset.owner, dataset.path
    small = {"station": "s", "count": 1, "measured_at": 0, "pm25": 1.0}
    many = [small] * 10_001
    problem(await post(hub, owner, path, many), 413, "too_many_records")
    ndjson = b"\n".join([json.dumps(small).encode()] * 10_001)
    problem(await post(hub, owner, path, ndjson, NDJSON), 413, "too_many_records")
    assert (await post(hub, owner, path, many[:10_000])).status_code == 201

    limit = hub.gateway.settings.publish_max_bytes
    padded = [{**small, "note": "x" * 1000}] * (limit // 1000)
    big = json.dumps(padded).encode()
    assert len(big) > limit
    problem(await post(hub, owner, path, big), 413, "body_too_large")

    async def chunks() -> Any:  # no Content-Length: the gateway counts as it reads, and stops
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    async with hub.http(owner) as http:
        streamed = await http.post(
            path, content=chunks(), headers={"Content-Type": "application/json"}
        )
    problem(streamed, 413, "body_too_large")
    assert len(await consume(kafka_bootstrap, dataset.topic)) == 10_000


# --- who may publish -------------------------------------------------------------------------


async def test_only_the_owner_with_publish_scope(hub: Hub, dataset: Published) -> None:
    other = await hub.caller(*WRITER)
    answer = await post(hub, other, dataset.path, [reading(1)])
    problem(answer, 403, "forbidden")

    reader = await hub.caller("catalog:read", "registry:write", agency=dataset.owner.agency)
    problem(await post(hub, reader, dataset.path, [reading(1)]), 403, "insufficient_scope")

    admin = await hub.caller("admin", "catalog:read")
    problem(await post(hub, admin, dataset.path, [reading(1)]), 403, "insufficient_scope")

    missing = f"/v1/datasets/{dataset.owner.agency}.{unique()}/events"
    problem(await post(hub, dataset.owner, missing, [reading(1)]), 404, "dataset_not_found")

    async with hub.http() as http:
        anonymous = await http.post(dataset.path, json=[reading(1)])
    assert anonymous.status_code == 401


# --- Idempotency-Key -------------------------------------------------------------------------


async def test_a_retry_with_the_same_key_writes_once(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    records = [reading(i) for i in range(10)]
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}

    first = await post(hub, dataset.owner, dataset.path, records, **key)
    again = await post(hub, dataset.owner, dataset.path, records, **key)

    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    on_topic = await consume(kafka_bootstrap, dataset.topic)
    assert len(on_topic) == 10
    # the event ids derive from the key: a retry after an ambiguous failure repeats them
    ids = [decode_headers(r.headers)["ndxp-event-id"] for r in on_topic]
    assert len(set(ids)) == 10

    other_body = await post(hub, dataset.owner, dataset.path, records[:9], **key)
    problem(other_body, 422, "idempotency_key_reused")
    as_ndjson = b"\n".join(json.dumps(r).encode() for r in records)
    problem(await post(hub, dataset.owner, dataset.path, as_ndjson, NDJSON, **key), 422,
            "idempotency_key_reused")  # fmt: skip

    # keys are per client: another client of the agency may use the same one
    colleague = await hub.caller(*WRITER, agency=dataset.owner.agency)
    assert (await post(hub, colleague, dataset.path, records, **key)).status_code == 201
    assert len(await consume(kafka_bootstrap, dataset.topic)) == 20


async def test_a_failed_request_does_not_use_up_its_key(hub: Hub, dataset: Published) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    bad = await post(hub, dataset.owner, dataset.path, [{"station": 1}], **key)
    problem(bad, 422, "validation_failed")
    good = await post(hub, dataset.owner, dataset.path, [reading(1)], **key)
    assert good.status_code == 201, good.text
    problem(
        await post(hub, dataset.owner, dataset.path, [reading(1)], **{"Idempotency-Key": "a b"}),
        400,
        "invalid_idempotency_key",
    )


async def test_concurrent_duplicates_write_once(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    records = [reading(i) for i in range(50)]
    key = {"Idempotency-Key": uuid.uuid4().hex}

    answers = await asyncio.gather(
        *(post(hub, dataset.owner, dataset.path, records, **key) for _ in range(6))
    )

    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, [a.text for a in answers]
    written = [
        a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers
    ]
    assert len(written) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert problem(answer, 409, "idempotency_key_in_progress")
            assert answer.headers["retry-after"] == "1"
        elif answer is not written[0]:
            assert answer.json() == written[0].json()
    assert len(await consume(kafka_bootstrap, dataset.topic)) == 50


# --- raw Avro --------------------------------------------------------------------------------


def framed(*parts: bytes | None) -> bytes:
    return b"".join(
        struct.pack(">I", 0xFFFFFFFF) if p is None else struct.pack(">I", len(p)) + p for p in parts
    )


async def test_raw_avro_is_written_as_sent(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    payloads = [encode(dataset.contract, reading(i)) for i in range(4)]

    answer = await post(hub, dataset.owner, dataset.path, framed(*payloads), AVRO)

    assert answer.status_code == 201, answer.text
    assert answer.json()["schema_id"] == dataset.contract.schema_id
    keyed = framed(b"k1", payloads[0], None, payloads[1], b"k1", payloads[2])
    answer = await post(hub, dataset.owner, dataset.path, keyed, f"{AVRO}; keyed=true")
    assert answer.status_code == 201, answer.text
    on_topic = await consume(kafka_bootstrap, dataset.topic)
    assert sorted(r.value for r in on_topic) == sorted([*payloads, *payloads[:3]])
    keys = {r.value: r.key for r in on_topic if r.key is not None}
    assert keys == {payloads[0]: b"k1", payloads[2]: b"k1"}
    for record in on_topic:
        assert decode_headers(record.headers)["ndxp-schema-id"] == str(dataset.contract.schema_id)


async def test_raw_avro_of_another_schema_or_undecodable_is_refused(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    other = await make_dataset(hub, await hub.caller(*WRITER))
    foreign = encode(other.contract, reading(1))
    # same bytes as a valid record of this dataset, but naming another subject's schema id
    assert foreign[5:] == encode(dataset.contract, reading(1))[5:]
    assert other.contract.schema_id != dataset.contract.schema_id
    good = encode(dataset.contract, reading(2))
    truncated = good[:-3]
    unknown = b"\x00" + struct.pack(">I", 2**31 - 5) + good[5:]

    answer = await post(
        hub,
        dataset.owner,
        dataset.path,
        framed(good, foreign, truncated, b"\x01wxyz", unknown),
        AVRO,
    )

    body = problem(answer, 422, "validation_failed")
    assert [e["index"] for e in body["errors"]] == [1, 2, 3, 4]
    reasons = [e["errors"][0]["reason"] for e in body["errors"]]
    assert f"schema id {other.contract.schema_id} is not a version of" in reasons[0]
    assert "not a record of schema id" in reasons[1]
    assert "magic byte" in reasons[2]
    assert "is not a version of" in reasons[3]
    assert await consume(kafka_bootstrap, dataset.topic) == []

    async with hub.http(dataset.owner) as http:
        pinned = await http.post(
            dataset.path, params={"schema_version": 1}, content=framed(good),
            headers={"Content-Type": AVRO},
        )  # fmt: skip
    problem(pinned, 400, "bad_request")


# --- contract versions -----------------------------------------------------------------------


async def test_schema_version_pins_the_contract(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    extra = {"name": "pm10", "type": ["null", "double"], "default": None, "doc": "PM10."}
    evolved = reading_contract(dataset.owner.agency, extra)
    async with hub.http(dataset.owner) as http:
        answer = await http.put(f"/v1/datasets/{dataset.id}/contract", json={"schema": evolved})
        assert answer.status_code == 200, answer.text
        v2 = answer.json()["id"]
        assert answer.json()["version"] == 2

        with_pm10 = {**reading(1), "pm10": 12.5}
        pinned = await http.post(dataset.path, params={"schema_version": 1}, json=[reading(1)])
        assert pinned.status_code == 201, pinned.text
        assert pinned.json()["schema_id"] == dataset.contract.schema_id
        refused = await http.post(dataset.path, params={"schema_version": 1}, json=[with_pm10])
        assert problem(refused, 422, "validation_failed")["errors"][0]["errors"][0]["path"] == (
            "/pm10"
        )
        problem(
            await http.post(dataset.path, params={"schema_version": 9}, json=[reading(1)]),
            404,
            "schema_version_not_found",
        )
        problem(
            await http.post(dataset.path, params={"schema_version": 0}, json=[reading(1)]),
            422,
            "invalid_request",
        )
        deadline = time.monotonic() + 10  # the latest version is cached a few seconds
        while True:
            latest = await http.post(dataset.path, json=[with_pm10])
            if latest.status_code == 201 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert latest.status_code == 201, latest.text
        assert latest.json()["schema_id"] == v2

    on_topic = await consume(kafka_bootstrap, dataset.topic)
    ids = [decode_headers(r.headers)["ndxp-schema-id"] for r in on_topic]
    assert sorted(ids) == sorted([str(dataset.contract.schema_id), str(v2)])
    v2_record = next(r for r in on_topic if decode_headers(r.headers)["ndxp-schema-id"] == str(v2))
    assert decode(v2_record.value, compile_contract(v2, evolved))["pm10"] == 12.5


# --- Kafka down ------------------------------------------------------------------------------


async def test_kafka_down_is_503_then_recovers_without_restart(tmp_path: Path) -> None:
    broker = LocalKafka(kafka_test_settings(heap="256m"), tmp_path / "kafka")
    bootstrap = await broker.start()
    try:
        registry_url = f"http://127.0.0.1:{free_port()}"
        settings = gateway_settings(tmp_path / "hub", bootstrap, registry_url=registry_url)
        settings.publish_timeout = 4.0
        with serve_gateway(settings) as gateway:
            registry = registry_settings(
                tmp_path / "hub" / "registry", bootstrap, settings.database_url
            )
            registry.auth = AuthSettings(issuer=gateway.issuer, require_tokens=True)
            port = int(registry_url.rsplit(":", 1)[1])
            with serve_app(create_registry(registry), port=port):
                hub = Hub(gateway, registry_url)
                owner = await hub.caller(*WRITER)
                dataset = await make_dataset(hub, owner, partitions=2)
                first = await post(hub, owner, dataset.path, [reading(i) for i in range(3)])
                assert first.status_code == 201, first.text

                broker.stop()
                started = time.monotonic()
                down = await post(hub, owner, dataset.path, [reading(i) for i in range(3)])
                problem(down, 503, "unavailable")
                assert int(down.headers["retry-after"]) > 0
                assert time.monotonic() - started < 15
                again = await post(hub, owner, dataset.path, [reading(9)])
                problem(again, 503, "unavailable")

                assert await broker.start() == bootstrap  # same data dir, same port
                deadline = time.monotonic() + 90
                while True:
                    answer = await post(hub, owner, dataset.path, [reading(i) for i in range(4)])
                    if answer.status_code == 201 or time.monotonic() > deadline:
                        break
                    problem(answer, 503, "unavailable")
                    await asyncio.sleep(1)
                assert answer.status_code == 201, answer.text
                on_topic = await consume(bootstrap, dataset.topic)
                # the first batch and the last; nothing of the failed ones is visible
                assert len(on_topic) == 7
    finally:
        broker.stop()
