"""Subscriptions over HTTP against a real gateway, Kafka and token-requiring registry: a provider
publishes, a consumer under an approved agreement receives exactly the granted fields by pull and
by SSE, acknowledges, resumes on another replica, replays, reads Avro with standard tools, and is
cut off when the agreement is revoked."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.catalog import Caller, Hub
from tests.fixtures.gateway import Gateway, replica_settings, serve_gateway
from tests.integration.gateway.catalog_data import contract, dataset_body, problem

PROVIDER = ("publish", "registry:write", "catalog:read", "agreements:manage")
CONSUMER = ("subscribe", "catalog:read", "agreements:manage")
FIELDS = (
    {"name": "province_code", "type": "string", "doc": "Province of the new residence."},
    {"name": "citizen_id", "type": "string", "doc": "Citizen identity number.", "pii": "sensitive"},
    {"name": "seq", "type": "long", "doc": "Sequence number of the change for its citizen."},
    {"name": "note", "type": ["null", "string"], "default": None, "doc": "A note."},
)
GRANTED = ["change_id", "province_code", "seq"]
KEYS = ("k0", "k1", "k2", "k3", "k4")


@dataclass
class Sharing:
    provider: Caller
    consumer: Caller
    dataset: str
    agreement: dict[str, Any]


# --- arranging ------------------------------------------------------------------------------------


async def call(
    hub: Hub, caller: Caller, method: str, path: str, body: Any = None
) -> httpx.Response:
    async with hub.http(caller) as http:
        return await http.request(method, path, json=body)


async def new_dataset(hub: Hub, provider: Caller, partitions: int = 3) -> str:
    body = dataset_body(
        provider.agency, partitions=partitions, schema=contract(provider.agency, *FIELDS)
    )
    created = await call(hub, provider, "POST", "/v1/datasets", body)
    assert created.status_code == 201, created.text
    dataset: str = created.json()["id"]
    return dataset


def value(key: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "change_id": f"{key}-{seq}",
        "full_name": f"Nguyễn Văn {key}",
        "province_code": "01",
        "citizen_id": "001099012345",
        "seq": seq,
        "note": None,
        **extra,
    }


async def publish(hub: Hub, provider: Caller, dataset: str, count: int, first: int = 0) -> None:
    """``count`` records round-robin over KEYS; per key, ``seq`` grows."""
    records = [
        {"key": KEYS[i % len(KEYS)], "value": value(KEYS[i % len(KEYS)], i)}
        for i in range(first, first + count)
    ]
    answer = await call(hub, provider, "POST", f"/v1/datasets/{dataset}/events", records)
    assert answer.status_code == 201, answer.text


async def request_agreement(hub: Hub, consumer: Caller, dataset: str) -> dict[str, Any]:
    body = {
        "dataset": dataset,
        "purpose": "Cập nhật cơ sở dữ liệu thuế theo nơi cư trú",
        "legal_basis": "Nghị định 47/2024/NĐ-CP, Điều 12",
        "requested_fields": [*GRANTED, "full_name"],
        "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    answer = await call(hub, consumer, "POST", "/v1/agreements", body)
    assert answer.status_code == 201, answer.text
    requested: dict[str, Any] = answer.json()
    return requested


async def approve(hub: Hub, provider: Caller, agreement: str) -> dict[str, Any]:
    # Narrowed: the personal-data field asked for is not granted.
    path = f"/v1/agreements/{agreement}/approve"
    answer = await call(hub, provider, "POST", path, {"fields": GRANTED})
    assert answer.status_code == 200, answer.text
    approved: dict[str, Any] = answer.json()
    assert approved["state"] == "active" and approved["granted_fields"] == GRANTED
    return approved


async def revoke(hub: Hub, provider: Caller, agreement: str) -> None:
    path = f"/v1/agreements/{agreement}/revoke"
    answer = await call(hub, provider, "POST", path, {"reason": "purpose fulfilled"})
    assert answer.status_code == 200, answer.text


async def share(hub: Hub, partitions: int = 3) -> Sharing:
    """A dataset with 20 records published, and an approved, narrowed agreement on it."""
    provider, consumer = await hub.caller(*PROVIDER), await hub.caller(*CONSUMER)
    dataset = await new_dataset(hub, provider, partitions)
    await publish(hub, provider, dataset, 20)
    requested = await request_agreement(hub, consumer, dataset)
    return Sharing(provider, consumer, dataset, await approve(hub, provider, requested["id"]))


@pytest.fixture
async def sharing(hub: Hub) -> Sharing:
    return await share(hub)


async def subscribe(
    hub: Hub, sharing: Sharing, start: Any = "earliest", fmt: str = "json"
) -> dict[str, Any]:
    body = {
        "agreement": sharing.agreement["id"],
        "name": f"s-{uuid.uuid4().hex[:8]}",
        "format": fmt,
        "start": start,
    }
    created = await call(hub, sharing.consumer, "POST", "/v1/subscriptions", body)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/subscriptions/{created.json()['id']}"
    document: dict[str, Any] = created.json()
    return document


async def pull(
    http: httpx.AsyncClient, subscription: str, max_records: int = 500, wait: float = 5
) -> dict[str, Any]:
    answer = await http.get(
        f"/v1/subscriptions/{subscription}/events", params={"max": max_records, "wait": wait}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def ack(http: httpx.AsyncClient, subscription: str, cursor: str) -> dict[str, Any]:
    answer = await http.post(f"/v1/subscriptions/{subscription}/ack", json={"cursor": cursor})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def drain(http: httpx.AsyncClient, subscription: str, expect: int) -> list[dict[str, Any]]:
    """Pull and ack until ``expect`` records came."""
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while len(records) < expect:
        assert time.monotonic() < deadline, f"only {len(records)} of {expect} records came"
        batch = await pull(http, subscription, wait=2)
        records += batch["records"]
        await ack(http, subscription, batch["cursor"])
    return records


def identity(record: dict[str, Any]) -> tuple[int, int]:
    return record["partition"], record["offset"]


def assert_key_order(records: list[dict[str, Any]]) -> None:
    """Every key's records arrive in publication order (``seq`` grows per key)."""
    last: dict[str, int] = {}
    for record in records:
        key, seq = record["key"], record["value"]["seq"]
        assert seq > last.get(key, -1), f"{key}: {seq} after {last.get(key)}"
        last[key] = seq


# --- SSE ------------------------------------------------------------------------------------------


@dataclass
class Event:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


async def sse(response: httpx.Response) -> AsyncIterator[Event]:
    """Server-Sent Events as the HTML spec reads them (comments skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in fields or "event" in fields:
                yield Event(
                    fields.get("id"), fields.get("event", "message"), fields.get("data", "")
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, text = line.partition(":")
        text = text.removeprefix(" ")
        fields[name] = f"{fields[name]}\n{text}" if name == "data" and name in fields else text


@asynccontextmanager
async def stream(
    hub: Hub, caller: Caller, subscription: str, last_event_id: str | None = None
) -> AsyncIterator[AsyncIterator[Event]]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with (
        hub.http(caller) as http,
        http.stream("GET", f"/v1/subscriptions/{subscription}/stream", headers=headers) as answer,
    ):
        assert answer.status_code == 200, (await answer.aread()).decode()
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield sse(answer).__aiter__()


async def take(events: AsyncIterator[Event], count: int, within: float = 20) -> list[Event]:
    taken: list[Event] = []
    async with asyncio.timeout(within):
        while len(taken) < count:
            taken.append(await anext(events))
    return taken


# --- a second replica -----------------------------------------------------------------------------


@pytest.fixture
def replica(hub: Hub, tmp_path: Path, kafka_bootstrap: str) -> Iterator[Gateway]:
    """Another gateway on the hub's control plane, Kafka and registry (keys shared)."""
    other = replica_settings(hub.gateway.settings, tmp_path, kafka_bootstrap, hub.registry_url)
    with serve_gateway(other) as gateway:
        yield gateway


# --- the story ----------------------------------------------------------------------------------


async def test_no_subscription_without_an_active_agreement(hub: Hub) -> None:
    provider, consumer = await hub.caller(*PROVIDER), await hub.caller(*CONSUMER)
    dataset = await new_dataset(hub, provider)
    body = {"agreement": str(uuid.uuid4()), "name": "no-agreement", "start": "earliest"}
    refused = await call(hub, consumer, "POST", "/v1/subscriptions", body)
    problem(refused, 403, "agreement_inactive")

    requested = await request_agreement(hub, consumer, dataset)  # requested, not yet approved
    body["agreement"] = requested["id"]
    problem(await call(hub, consumer, "POST", "/v1/subscriptions", body), 403, "agreement_inactive")
    # Another agency cannot subscribe under the consumer's agreement, even once it is active.
    await approve(hub, provider, requested["id"])
    intruder = await hub.caller(*CONSUMER)
    problem(await call(hub, intruder, "POST", "/v1/subscriptions", body), 403, "agreement_inactive")
    # Subscribing needs the subscribe scope.
    reader = await hub.caller("catalog:read", agency=consumer.agency)
    problem(await call(hub, reader, "POST", "/v1/subscriptions", body), 403, "insufficient_scope")


async def test_pull_delivers_granted_fields_at_least_once(hub: Hub, replica: Gateway) -> None:
    sharing = await share(hub, partitions=1)  # one partition: batches are the same every time
    created = await subscribe(hub, sharing)
    sub = created["id"]
    assert created["dataset"] == sharing.dataset and created["format"] == "json"
    assert created["group_id"] == f"ndxp.sub.{sub}"
    assert created["position"]["lag"] >= 20

    async with hub.http(sharing.consumer) as http:
        first = await pull(http, sub, max_records=6)
        assert len(first["records"]) == 6
        record = first["records"][0]
        assert set(record["value"]) == set(GRANTED)  # no full_name, citizen_id nor note
        assert set(record) == {
            "partition", "offset", "timestamp", "key", "event_id", "headers", "value",
        }  # fmt: skip
        assert record["headers"]["ndxp-producer"] == sharing.provider.agency
        assert record["event_id"] == record["headers"]["ndxp-event-id"]
        assert record["timestamp"].endswith("Z")

        again = await pull(http, sub, max_records=6)  # not acknowledged: the same records
        assert list(map(identity, again["records"])) == list(map(identity, first["records"]))
        assert again["cursor"] == first["cursor"]

        acked = await ack(http, sub, first["cursor"])
        assert acked["committed"] == {"0": first["records"][-1]["offset"] + 1}
        assert acked["lag"] > 0
        second = await pull(http, sub, max_records=6)
        assert not {*map(identity, first["records"])} & {*map(identity, second["records"])}
        await ack(http, sub, second["cursor"])
        unacked = await pull(http, sub, max_records=4)  # delivered, then the "restart"

    # A fresh client on another replica: everything not acknowledged comes, nothing else again.
    async with replica.client(headers=sharing.consumer.headers) as http:
        rest = await drain(http, sub, 20 - 12)
        assert (await pull(http, sub, wait=0.5))["records"] == []
    received = first["records"] + second["records"] + rest
    assert sorted(map(identity, received)) == sorted(set(map(identity, received)))
    assert len(received) == 20
    repeated = [identity(r) for r in rest[: len(unacked["records"])]]
    assert repeated == list(map(identity, unacked["records"]))
    assert {r["value"]["seq"] for r in received} == set(range(20))
    assert_key_order(received)

    read = await call(hub, sharing.consumer, "GET", f"/v1/subscriptions/{sub}")
    assert read.status_code == 200
    assert read.json()["position"]["lag"] == 0
    listed = await call(hub, sharing.consumer, "GET", "/v1/subscriptions")
    assert sub in [s["id"] for s in listed.json()["subscriptions"]]


async def test_deliveries_are_counted_and_audited(hub: Hub, sharing: Sharing, ops: Caller) -> None:
    sub = (await subscribe(hub, sharing))["id"]
    async with hub.http(sharing.consumer) as http:
        batch = await pull(http, sub, max_records=7)
        again = await pull(http, sub, max_records=7)  # not acknowledged: delivered twice
    metrics = await hub.gateway.scrape()
    labels = {
        "provider": sharing.provider.agency,
        "consumer": sharing.consumer.agency,
        "dataset": sharing.dataset,
        "channel": "pull",
    }
    assert sample(metrics, "ndxp_events_delivered_total", labels) == 14
    assert sample(metrics, "ndxp_delivered_bytes_total", labels) > 0
    delivery_lag = {
        "consumer": sharing.consumer.agency,
        "dataset": sharing.dataset,
        "channel": "pull",
    }
    assert sample(metrics, "ndxp_delivery_lag_seconds_count", delivery_lag) == 14

    path = f"/v1/audit?agreement={sharing.agreement['id']}&action=deliver"
    answer = await call(hub, sharing.consumer, "GET", path)
    assert answer.status_code == 200, answer.text
    delivered = answer.json()["items"]
    assert len(delivered) == 2
    for event in delivered:
        assert event["record_count"] == 7 and event["bytes"] > 0
        assert event["details"] == {"channel": "pull", "subscription": sub}
        assert (event["provider_agency"], event["consumer_agency"]) == (
            sharing.provider.agency,
            sharing.consumer.agency,
        )
    assert sorted(json.dumps(e["offsets"], sort_keys=True) for e in delivered) == sorted(
        json.dumps(spans(pulled["records"]), sort_keys=True) for pulled in (batch, again)
    )
    path = f"/v1/audit?agreement={sharing.agreement['id']}&action=subscription.create"
    created = await call(hub, ops, "GET", path)
    assert [e["details"]["subscription"] for e in created.json()["items"]] == [sub]


async def test_lag_counts_records_for_every_subscription_in_the_background(
    hub: Hub, sharing: Sharing
) -> None:
    stalled = (await subscribe(hub, sharing))["id"]  # nobody reads it
    read = (await subscribe(hub, sharing))["id"]
    async with hub.http(sharing.consumer) as http:
        for record in await drain(http, read, 20):  # drain acknowledges what it pulls
            assert record["value"]["seq"] in range(20)
    labels = {"consumer": sharing.consumer.agency, "dataset": sharing.dataset, "kind": "pull"}

    # 20 records in one transaction over 3 partitions: 23 offsets, 20 records behind; the
    # subscription that read them all is caught up, though no marker was ever "acknowledged".
    await lag_reaches(hub, {**labels, "subscription": stalled}, 20)
    await lag_reaches(hub, {**labels, "subscription": read}, 0)

    deleted = await call(hub, sharing.consumer, "DELETE", f"/v1/subscriptions/{stalled}")
    assert deleted.status_code == 204, deleted.text
    await lag_reaches(hub, {**labels, "subscription": stalled}, None)


async def lag_reaches(hub: Hub, labels: dict[str, str], wanted: float | None) -> None:
    """Until the gateway's ``ndxp_subscription_lag_records`` of ``labels`` is ``wanted`` (None:
    no series), within a few of the test gateway's lag intervals (1 s)."""
    deadline = time.monotonic() + 10
    while True:
        metrics = await hub.gateway.scrape()
        try:
            found: float | None = sample(metrics, "ndxp_subscription_lag_records", labels)
        except AssertionError:
            found = None
        if found == wanted:
            return
        assert time.monotonic() < deadline, (labels, found)
        await asyncio.sleep(0.2)


def spans(records: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The audit's ``offsets`` of a batch: the first and last offset by partition."""
    found: dict[str, list[int]] = {}
    for record in records:
        span = found.setdefault(str(record["partition"]), [record["offset"]] * 2)
        span[1] = record["offset"]
    return found


def sample(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_cursors_are_checked(hub: Hub, sharing: Sharing) -> None:
    sub, other = (await subscribe(hub, sharing))["id"], (await subscribe(hub, sharing))["id"]
    async with hub.http(sharing.consumer) as http:
        batch = await pull(http, sub, max_records=3)
        path = f"/v1/subscriptions/{other}/ack"
        problem(await http.post(path, json={"cursor": batch["cursor"]}), 422, "invalid_cursor")
        problem(await http.post(path, json={"cursor": "not a cursor"}), 422, "invalid_cursor")
        forged = json.loads(base64.urlsafe_b64decode(batch["cursor"] + "=="))
        forged["s"], forged["o"] = other, {"0": 10**9}
        text = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        problem(await http.post(path, json={"cursor": text}), 422, "invalid_cursor")
        forged["o"] = {"7": 0}
        text = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        problem(await http.post(path, json={"cursor": text}), 422, "invalid_cursor")
        # within the cursor's length limit: nested past the JSON parser's depth, or a partition
        # number longer than Python turns into an int
        for raw in (b"[" * 5000 + b"]" * 5000, b'{"s":"x","e":0,"o":{"%s":0}}' % (b"1" * 5000)):
            text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            problem(await http.post(path, json={"cursor": text}), 422, "invalid_cursor")
            stream = await http.get(
                f"/v1/subscriptions/{other}/stream", headers={"Last-Event-ID": text}
            )
            problem(stream, 422, "invalid_cursor")

        reset = await http.post(f"/v1/subscriptions/{sub}/reset", json={"start": "latest"})
        assert reset.status_code == 200, reset.text
        assert reset.json()["position"]["lag"] == 0
        stale = await http.post(f"/v1/subscriptions/{sub}/ack", json={"cursor": batch["cursor"]})
        problem(stale, 409, "stale_cursor")  # it would undo the reset
        assert (await pull(http, sub, wait=0))["records"] == []

    # Another agency sees none of it.
    stranger = await hub.caller(*CONSUMER)
    async with hub.http(stranger) as http:
        problem(await http.get(f"/v1/subscriptions/{sub}"), 404, "subscription_not_found")
        problem(await http.get(f"/v1/subscriptions/{sub}/events"), 404, "subscription_not_found")
        assert (await http.get("/v1/subscriptions")).json() == {"subscriptions": []}


async def test_replay_from_a_time_and_from_offsets(hub: Hub, sharing: Sharing) -> None:
    sub = (await subscribe(hub, sharing, start="latest"))["id"]
    await asyncio.sleep(0.05)
    since = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await publish(hub, sharing.provider, sharing.dataset, 10, first=20)
    async with hub.http(sharing.consumer) as http:
        assert len(await drain(http, sub, 10)) == 10
        reset = await http.post(f"/v1/subscriptions/{sub}/reset", json={"start": since.isoformat()})
        assert reset.status_code == 200, reset.text
        assert reset.json()["position"]["lag"] >= 10  # records, and transaction markers
        replayed = await drain(http, sub, 10)
        assert sorted(r["value"]["seq"] for r in replayed) == list(range(20, 30))

        ends = {p["partition"]: p["end"] for p in reset.json()["position"]["partitions"]}
        offsets = {"offsets": {"0": max(0, ends[0] - 1)}}
        reset = await http.post(f"/v1/subscriptions/{sub}/reset", json={"start": offsets})
        assert reset.status_code == 200, reset.text
        assert reset.json()["position"]["lag"] == (1 if ends[0] else 0)  # the last marker
        bad = await http.post(
            f"/v1/subscriptions/{sub}/reset", json={"start": {"offsets": {"0": 10**6}}}
        )
        problem(bad, 422, "offset_out_of_range")
        naive = await http.post(
            f"/v1/subscriptions/{sub}/reset", json={"start": "2025-01-01T00:00:00"}
        )
        problem(naive, 422, "invalid_request")


async def test_stream_delivers_granted_fields_and_resumes_after_last_event_id(
    hub: Hub, sharing: Sharing
) -> None:
    sub = (await subscribe(hub, sharing))["id"]
    async with stream(hub, sharing.consumer, sub) as events:
        first = await take(events, 8)
    assert all(e.event == "record" and e.id for e in first)
    records = [e.json() for e in first]
    assert all(set(r["value"]) == set(GRANTED) for r in records)

    async with stream(hub, sharing.consumer, sub, last_event_id=first[4].id) as events:
        resumed = await take(events, 20 - 5)
    records = [e.json() for e in first[:5] + resumed]
    assert sorted(r["value"]["seq"] for r in records) == list(range(20))
    assert_key_order(records)

    # Published while streaming: delivered within moments.
    async with stream(hub, sharing.consumer, sub, last_event_id=resumed[-1].id) as events:
        await publish(hub, sharing.provider, sharing.dataset, 3, first=20)
        live = await take(events, 3, within=10)
    assert sorted(e.json()["value"]["seq"] for e in live) == [20, 21, 22]

    # Without Last-Event-ID the stream starts from what it committed: nothing is repeated.
    await asyncio.sleep(1.5)
    async with hub.http(sharing.consumer) as http:
        assert (await http.get(f"/v1/subscriptions/{sub}")).json()["position"]["lag"] == 0


async def test_avro_delivery_decodes_with_the_derived_reader_schema(
    hub: Hub, sharing: Sharing
) -> None:
    sub = (await subscribe(hub, sharing, fmt="avro"))["id"]
    async with hub.http(sharing.consumer) as http:
        batch = await pull(http, sub, max_records=5)
    reader_id = sharing.agreement["reader_schema"]["id"]
    assert {r["schema_id"] for r in batch["records"]} == {reader_id}

    auth = f"{sharing.consumer.client_id}:{sharing.consumer.secret}"
    with SchemaRegistryClient({"url": hub.registry_url, "basic.auth.user.info": auth}) as client:
        deserialize = AvroDeserializer(client)
        context = SerializationContext(sharing.dataset, MessageField.VALUE)
        for record in batch["records"]:
            payload = base64.b64decode(record["value"])
            assert int.from_bytes(payload[1:5], "big") == reader_id
            decoded = await asyncio.to_thread(deserialize, payload, context)
            assert set(decoded) == set(GRANTED)
            assert decoded["change_id"] == f"{record['key']}-{decoded['seq']}"
        reader = await asyncio.to_thread(client.get_schema, reader_id)
    names = [f["name"] for f in json.loads(reader.schema_str)["fields"]]
    assert names == GRANTED


async def test_records_that_cannot_be_decoded_keep_their_place(
    hub: Hub, kafka_bootstrap: str
) -> None:
    """Written around the gateway with an unknown schema id, or not in the wire format at all."""
    sharing = await share(hub, partitions=1)
    sub = (await subscribe(hub, sharing, start="latest"))["id"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for payload in (b"\x00\x7f\xff\xff\xf0garbage", b"not avro"):
            await producer.send_and_wait(f"{sharing.dataset}.v1", payload, key=b"k0")
    finally:
        await producer.stop()
    await publish(hub, sharing.provider, sharing.dataset, 1, first=20)
    async with hub.http(sharing.consumer) as http:
        records = await drain(http, sub, 3)
    assert [r["value"] is None for r in records] == [True, True, False]
    assert [r["error"]["code"] for r in records[:2]] == ["undeliverable"] * 2
    assert records[2]["value"]["seq"] == 20


async def test_revoking_closes_the_stream_and_refuses_pulls(hub: Hub, sharing: Sharing) -> None:
    sub = (await subscribe(hub, sharing))["id"]
    async with stream(hub, sharing.consumer, sub) as events:
        await take(events, 20)
        started = time.monotonic()
        await revoke(hub, sharing.provider, sharing.agreement["id"])
        [closed] = await take(events, 1, within=5)
        assert time.monotonic() - started < 3
    assert closed.event == "closed"
    assert closed.json()["reason"] == "agreement_inactive"
    async with hub.http(sharing.consumer) as http:
        problem(await http.get(f"/v1/subscriptions/{sub}/events"), 403, "agreement_inactive")
        problem(await http.get(f"/v1/subscriptions/{sub}/stream"), 403, "agreement_inactive")
        # What was received can still be acknowledged, and the subscription deleted.
        assert (await http.delete(f"/v1/subscriptions/{sub}")).status_code == 204
        problem(await http.get(f"/v1/subscriptions/{sub}"), 404, "subscription_not_found")
