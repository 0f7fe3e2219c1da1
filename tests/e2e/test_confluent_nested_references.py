"""Confluent's Python client with nested schema references, against ``ndxp up`` (tokens required):
registering Country ← Address ← Award, serializing an Award with ``auto.register.schemas=False``
(the serializer looks the schema up, references and all), a round trip through the hub's broker,
and a referenced subject the registry refuses to delete, directly and through ``/registry``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from services.core.kafka.admin import TopicSpec, ensure_topic
from tests.fixtures.hub import Hub
from tests.fixtures.kafka import consume_values, kafka_test_settings

AGENCY = "demo"  # the agency of the demo client ``ndxp up`` seeds


def schemas(namespace: str) -> dict[str, dict[str, Any]]:
    def record(name: str, *fields: tuple[str, Any]) -> dict[str, Any]:
        return {
            "type": "record",
            "name": name,
            "namespace": namespace,
            "doc": f"A {name.lower()}.",
            "fields": [{"name": n, "type": t, "doc": f"The {n}."} for n, t in fields],
        }

    return {
        "Country": record("Country", ("iso", "string")),
        "Address": record("Address", ("street", "string"), ("country", "Country")),
        "Award": record("Award", ("award_id", "string"), ("winner", "Address")),
    }


def register_chain(client: SchemaRegistryClient, run: str) -> tuple[str, Schema]:
    """Country and Address under library subjects, Award under a dataset's value subject that
    references Address only; returns (the topic, Award's schema with its reference)."""
    namespace = f"vn.gov.{AGENCY}.refs{run}"
    found = schemas(namespace)
    country, address = f"refs-{run}-country", f"refs-{run}-address"
    assert client.register_schema(country, Schema(json.dumps(found["Country"]), "AVRO")) > 0
    address_schema = Schema(
        json.dumps(found["Address"]),
        "AVRO",
        [SchemaReference(f"{namespace}.Country", country, 1)],
    )
    assert client.register_schema(address, address_schema) > 0
    award = Schema(
        json.dumps(found["Award"]), "AVRO", [SchemaReference(f"{namespace}.Address", address, 1)]
    )
    topic = f"{AGENCY}.awards-{run}.v1"
    award_id = client.register_schema(f"{topic}-value", award)
    assert client.lookup_schema(f"{topic}-value", award).schema_id == award_id
    return topic, award


def round_trip(client: SchemaRegistryClient, hub: Hub, topic: str, award: Schema) -> None:
    bootstrap = f"127.0.0.1:{hub.kafka_port}"
    value_ctx = SerializationContext(topic, MessageField.VALUE)
    serialize = AvroSerializer(client, award, conf={"auto.register.schemas": False})
    record = {
        "award_id": "a-1",
        "winner": {"street": "1 Trang Tien", "country": {"iso": "VN"}},
    }
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    producer.produce(topic, value=serialize(record, value_ctx))
    assert producer.flush(30) == 0

    [value] = consume_values(bootstrap, topic, 1)

    schema_id = int.from_bytes(value[1:5], "big")
    assert schema_id == client.get_latest_version(f"{topic}-value").schema_id
    assert AvroDeserializer(client)(value, value_ctx) == record
    fetched = client.get_schema(schema_id)
    assert [(r.name, r.subject, r.version) for r in fetched.references] == [
        (r.name, r.subject, r.version) for r in award.references
    ]


def refuses_to_delete(client: SchemaRegistryClient, subject: str) -> None:
    for permanent in (False, True):
        with pytest.raises(SchemaRegistryError) as refused:
            client.delete_subject(subject, permanent=permanent)
        assert (refused.value.http_status_code, refused.value.error_code) == (422, 42206)


async def test_nested_references_directly_and_through_the_gateway(shared_hub: Hub) -> None:
    client_id, secret = (
        shared_hub.demo_client()["client_id"],
        shared_hub.demo_client()["client_secret"],
    )
    direct = {
        "url": shared_hub.url("registry"),
        "bearer.auth.credentials.source": "STATIC_TOKEN",
        "bearer.auth.token": shared_hub.token(),
        "bearer.auth.logical.cluster": "ndxp",
    }
    proxied = {
        "url": f"{shared_hub.gateway}/registry",
        "basic.auth.user.info": f"{client_id}:{secret}",
    }

    for conf in (direct, proxied):
        run = uuid.uuid4().hex[:8]
        with SchemaRegistryClient(conf) as client:
            topic, award = register_chain(client, run)
            await ensure_topic(
                kafka_test_settings(),
                TopicSpec(topic),
                bootstrap=f"127.0.0.1:{shared_hub.kafka_port}",
            )
            round_trip(client, shared_hub, topic, award)
            refuses_to_delete(client, f"refs-{run}-country")
            refuses_to_delete(client, f"refs-{run}-address")
