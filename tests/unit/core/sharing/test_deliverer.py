"""The Deliverer without a broker or a registry: the real codec, contracts handed out by id, and
records shaped as a Kafka consumer returns them."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.core.audit import AuditEvent
from services.core.avro.codec import Contract, compile_contract, decode, encode
from services.core.db.models import Agreement
from services.core.errors import NotFound, Unavailable
from services.core.sharing.delivery import (
    Delivered,
    Deliverer,
    ReaderSchemaMissing,
    Undeliverable,
)

WRITER = {
    "type": "record",
    "name": "Citizen",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "full_name", "type": "string", "pii": "basic"},
        {"name": "province", "type": "string"},
    ],
}
READER = {  # the agreement grants id and province only
    "type": "record",
    "name": "Citizen",
    "fields": [{"name": "id", "type": "string"}, {"name": "province", "type": "string"}],
}
VALUE = {"id": "001", "full_name": "Nguyễn Thị Lan", "province": "79"}


@dataclass
class Record:
    value: bytes | None
    partition: int = 0
    offset: int = 0
    timestamp: int = 1_741_919_415_123
    key: bytes | None = b"001"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Schemas:
    """The registry by schema id; ``down`` answers like a registry that is away."""

    contracts: dict[int, Contract]
    down: bool = False
    asked: list[int] = field(default_factory=list)

    async def __call__(self, schema_id: int) -> Contract:
        self.asked.append(schema_id)
        if self.down:
            raise Unavailable("the registry is away")
        if schema_id not in self.contracts:
            raise NotFound(f"schema {schema_id} not found")
        return self.contracts[schema_id]


@dataclass
class Trail:
    events: list[AuditEvent] = field(default_factory=list)

    async def record(self, event: AuditEvent) -> str:
        self.events.append(event)
        return "1"


def agreement(reader_schema_id: int | None = 2) -> Agreement:
    provider, consumer = f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    return Agreement(
        id=str(uuid.uuid4()),
        dataset_id=f"{provider}.citizens",
        provider_agency=provider,
        consumer_agency=consumer,
        reader_schema_id=reader_schema_id,
    )


def schemas() -> Schemas:
    return Schemas({1: compile_contract(1, WRITER), 2: compile_contract(2, READER)})


def written(offset: int = 0, value: dict[str, Any] = VALUE) -> Record:
    headers = [("ndxp-event-id", b"e-%d" % offset), ("ndxp-schema-id", b"1")]
    return Record(encode(compile_contract(1, WRITER), value), offset=offset, headers=headers)


async def test_json_delivery_holds_only_the_granted_fields() -> None:
    deliverer = Deliverer(schemas(), agreement(), channel="pull")
    record = written(5)
    await deliverer.prepare([record])

    out = json.loads(deliverer.render(record))

    assert out == {
        "partition": 0,
        "offset": 5,
        "timestamp": "2025-03-14T02:30:15.123Z",
        "key": "001",
        "event_id": "e-5",
        "headers": {"ndxp-event-id": "e-5"},  # the writer's schema id is not the consumer's
        "value": {"id": "001", "province": "79"},
    }


async def test_avro_delivery_is_framed_with_the_reader_schema() -> None:
    source = schemas()
    deliverer = Deliverer(source, agreement(), channel="stream", fmt="avro")
    record = written()
    await deliverer.prepare([record])

    out = json.loads(deliverer.render(record))

    assert out["schema_id"] == 2
    assert decode(base64.b64decode(out["value"]), source.contracts[2]) == {
        "id": "001",
        "province": "79",
    }


async def test_an_undecodable_record_keeps_its_place_with_the_reason() -> None:
    deliverer = Deliverer(schemas(), agreement(), channel="pull")
    garbage = Record(b"not avro", offset=1)
    unknown = Record(b"\x00\x00\x00\x00\x63" + b"\x02", offset=2)  # schema id 99: not found
    await deliverer.prepare([garbage, unknown])

    for record in (garbage, unknown):
        out = json.loads(deliverer.render(record))
        assert out["value"] is None
        assert out["error"]["code"] == "undeliverable"
    assert "schema id 99 is not usable" in json.loads(deliverer.render(unknown))["error"]["detail"]
    with pytest.raises(Undeliverable):
        deliverer.resolved(unknown)


async def test_a_registry_that_is_away_fails_the_batch_not_the_record() -> None:
    source = schemas()
    deliverer = Deliverer(source, None, channel="connector")
    source.down = True
    with pytest.raises(Unavailable):
        await deliverer.prepare([written()])


async def test_an_agreement_without_a_reader_schema_delivers_nothing() -> None:
    deliverer = Deliverer(schemas(), agreement(reader_schema_id=None), channel="pull")
    with pytest.raises(ReaderSchemaMissing):
        await deliverer.prepare([written()])


async def test_without_an_agreement_a_sink_gets_every_field_and_nothing_is_counted() -> None:
    trail = Trail()
    deliverer = Deliverer(schemas(), None, channel="connector")
    record = written()
    await deliverer.prepare([record])

    value, schema = deliverer.resolved(record)
    assert value == VALUE
    assert schema.schema_id == 1
    batch = Delivered()
    batch.note(0, 0, 10)
    await deliverer.account(trail, batch, actor=("own", "connector:x"), details={})
    assert trail.events == []


async def test_the_envelope_is_what_every_channel_says_besides_the_value() -> None:
    record = written(3)
    assert Deliverer.envelope(record) == {
        "partition": 0,
        "offset": 3,
        "key": "001",
        "event_id": "e-3",
        "headers": {"ndxp-event-id": "e-3"},
    }


async def test_a_delivered_batch_is_counted_and_audited_once() -> None:
    granted = agreement()
    trail = Trail()
    deliverer = Deliverer(schemas(), granted, channel="pull")
    labels = {
        "provider": granted.provider_agency,
        "consumer": granted.consumer_agency,
        "dataset": granted.dataset_id,
        "channel": "pull",
    }
    records = [written(o) for o in (4, 5, 6)]
    await deliverer.prepare(records)
    batch = Delivered()
    for record in records:
        batch.add(record.partition, record.offset, deliverer.render(record))

    await deliverer.account(
        trail, batch, actor=(granted.consumer_agency, "client-9"), details={"subscription": "s"}
    )
    await deliverer.account(trail, Delivered(), actor=("x", "y"), details={})  # empty: nothing

    assert REGISTRY.get_sample_value("ndxp_events_delivered_total", labels) == 3
    assert REGISTRY.get_sample_value("ndxp_delivered_bytes_total", labels) == batch.size
    [event] = trail.events
    assert (event.action, event.actor_agency, event.actor_client) == (
        "deliver",
        granted.consumer_agency,
        "client-9",
    )
    assert (event.agreement, event.provider, event.consumer) == (
        granted.id,
        granted.provider_agency,
        granted.consumer_agency,
    )
    assert (event.records, event.offsets) == (3, {0: [4, 6]})
    assert event.details == {"channel": "pull", "subscription": "s"}


async def test_the_delivery_lag_is_observed_by_consumer_dataset_and_channel() -> None:
    granted = agreement()
    deliverer = Deliverer(schemas(), granted, channel="stream")
    labels = {
        "consumer": granted.consumer_agency,
        "dataset": granted.dataset_id,
        "channel": "stream",
    }
    deliverer.observe_lag([written(1), written(2)])
    assert REGISTRY.get_sample_value("ndxp_delivery_lag_seconds_count", labels) == 2


async def test_a_changed_reader_schema_is_fetched_again_writers_are_kept() -> None:
    source = schemas()
    source.contracts[3] = compile_contract(3, {**READER, "fields": READER["fields"][:1]})
    granted = agreement()
    deliverer = Deliverer(source, granted, channel="connector")
    record = written()
    await deliverer.prepare([record])
    assert deliverer.resolved(record)[0] == {"id": "001", "province": "79"}

    moved = agreement(reader_schema_id=3)
    deliverer.under(moved)
    await deliverer.prepare([record])

    assert deliverer.resolved(record)[0] == {"id": "001"}
    assert source.asked == [2, 1, 3]  # the writer schema was fetched once
