"""Unmodified Confluent clients against the ndxp registry: the registry client's calls, and Avro
serializers that round-trip records through the real Kafka broker while the contract evolves."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from services.core.kafka.admin import TopicSpec, ensure_topic
from tests.fixtures.kafka import consume_values, kafka_test_settings

V1: dict[str, Any] = {
    "type": "record",
    "name": "ResidenceChange",
    "namespace": "vn.gov.mps",
    "doc": "A change of registered residence.",
    "fields": [
        {"name": "event_id", "type": "string", "doc": "Unique event id."},
        {"name": "citizen_id", "type": "string", "doc": "Citizen id number.", "pii": "basic"},
        {"name": "province_code", "type": "int", "doc": "New province code."},
    ],
}
V2: dict[str, Any] = {
    **V1,
    "fields": [
        *V1["fields"],
        {
            "name": "ward_code",
            "type": ["null", "string"],
            "default": None,
            "doc": "New ward code, when known.",
        },
    ],
}
V3_INCOMPATIBLE: dict[str, Any] = {
    **V1,
    "fields": [*V1["fields"], {"name": "mandatory", "type": "long", "doc": "No default."}],
}


@pytest.fixture
def client(registry_url: str) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": registry_url}) as registry:
        yield registry


def test_registry_client_calls(client: SchemaRegistryClient, subject: str) -> None:
    schema_id = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    assert client.register_schema(subject, Schema(json.dumps(V1), "AVRO")) == schema_id
    fetched = client.get_schema(schema_id)
    assert json.loads(fetched.schema_str) == V1  # the pii attribute survives
    assert fetched.schema_type == "AVRO"

    found = client.lookup_schema(subject, Schema(json.dumps(V1), "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (schema_id, 1, subject)
    assert client.get_subjects().count(subject) == 1
    assert client.get_versions(subject) == [1]

    assert client.test_compatibility(subject, Schema(json.dumps(V2), "AVRO"))
    assert not client.test_compatibility(subject, Schema(json.dumps(V3_INCOMPATIBLE), "AVRO"))
    v2_id = client.register_schema(subject, Schema(json.dumps(V2), "AVRO"))
    assert v2_id != schema_id
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, v2_id)
    assert client.get_version(subject, 1).schema_id == schema_id

    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(json.dumps(V3_INCOMPATIBLE), "AVRO"))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)

    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"

    assert client.delete_version(subject, 2) == 2
    assert client.get_versions(subject) == [1]
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    with pytest.raises(SchemaRegistryError) as gone:
        client.get_versions(subject)
    assert gone.value.error_code == 40401


async def test_avro_serializers_round_trip_through_kafka_with_evolution(
    client: SchemaRegistryClient, kafka_bootstrap: str
) -> None:
    topic = f"test.confluent-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topic(kafka_test_settings(), TopicSpec(topic), bootstrap=kafka_bootstrap)
    registry = client
    value_ctx = SerializationContext(topic, MessageField.VALUE)

    write_v1 = AvroSerializer(registry, json.dumps(V1))
    write_v2 = AvroSerializer(registry, json.dumps(V2))
    first = {"event_id": "e1", "citizen_id": "001099000001", "province_code": 1}
    second = {
        "event_id": "e2",
        "citizen_id": "001099000002",
        "province_code": 79,
        "ward_code": "26734",
    }
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, value=write_v1(first, value_ctx))
    producer.produce(topic, value=write_v2(second, value_ctx))
    assert producer.flush(30) == 0

    raw = consume_values(kafka_bootstrap, topic, 2)
    v1_id, v2_id = (int.from_bytes(value[1:5], "big") for value in raw)
    assert raw[0][0] == raw[1][0] == 0  # Confluent wire format: magic byte, then the schema id
    assert registry.get_latest_version(f"{topic}-value").schema_id == v2_id != v1_id

    read_as_v2 = AvroDeserializer(registry, json.dumps(V2))
    read_as_v1 = AvroDeserializer(registry, json.dumps(V1))
    read_as_writer = AvroDeserializer(registry)
    assert read_as_v2(raw[0], value_ctx) == {**first, "ward_code": None}  # v1 data, v2 reader
    assert read_as_v2(raw[1], value_ctx) == second
    second_as_v1 = {key: value for key, value in second.items() if key != "ward_code"}
    assert read_as_v1(raw[1], value_ctx) == second_as_v1  # v2 data, v1 reader: field dropped
    assert read_as_writer(raw[0], value_ctx) == first
