"""Confluent's Python client against ``ndxp up`` (tokens required) with subjects holding a ``/``:
a file-like reference subject, and a ``subject.name.strategy`` that names subjects the same way,
both at the registry's own port and through the gateway's ``/registry``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.fixtures.hub import Hub


@pytest.fixture
def hub(shared_hub: Hub) -> Hub:
    return shared_hub


@pytest.fixture(params=["registry", "gateway"])
def client(hub: Hub, request: pytest.FixtureRequest) -> Iterator[SchemaRegistryClient]:
    url = hub.url("registry") if request.param == "registry" else f"{hub.gateway}/registry"
    demo = hub.demo_client()
    auth = {"basic.auth.user.info": f"{demo['client_id']}:{demo['client_secret']}"}
    with SchemaRegistryClient({"url": url, **auth}) as registry:
        yield registry


def test_reference_and_strategy_subjects_with_a_slash(client: SchemaRegistryClient) -> None:
    tag = uuid.uuid4().hex[:8]
    namespace = f"vn.gov.demo.t{tag}"
    ref_subject = f"demo-lib-{tag}/address.avsc"
    address = {
        "type": "record",
        "name": "Address",
        "namespace": namespace,
        "doc": "A postal address.",
        "fields": [{"name": "street", "type": "string", "doc": "Street and number."}],
    }
    ref_id = client.register_schema(ref_subject, Schema(json.dumps(address), "AVRO"))
    assert client.get_latest_version(ref_subject).subject == ref_subject
    assert ref_subject in client.get_subjects()

    person = {
        "type": "record",
        "name": "Person",
        "namespace": namespace,
        "doc": "A person.",
        "fields": [
            {"name": "name", "type": "string", "doc": "Full name."},
            {"name": "home", "type": f"{namespace}.Address", "doc": "Home address."},
        ],
    }
    reference = SchemaReference(f"{namespace}.Address", ref_subject, 1)
    schema = Schema(json.dumps(person), "AVRO", references=[reference])
    subject = f"demo-people-{tag}/person.avsc"
    serialize = AvroSerializer(
        client,
        schema,
        conf={"auto.register.schemas": True, "subject.name.strategy": lambda _ctx, _name: subject},
    )
    ctx = SerializationContext(f"demo.people-{tag}.v1", MessageField.VALUE)
    record = {"name": "Nguyen Van A", "home": {"street": "1 Trang Tien"}}
    encoded = serialize(record, ctx)
    assert encoded is not None
    schema_id = int.from_bytes(encoded[1:5], "big")

    registered = client.get_latest_version(subject)
    assert (registered.subject, registered.schema_id, registered.version) == (subject, schema_id, 1)
    assert [(r.name, r.subject, r.version) for r in registered.schema.references] == [
        (f"{namespace}.Address", ref_subject, 1)
    ]
    assert client.get_referenced_by(ref_subject, 1) == [schema_id]
    assert client.lookup_schema(subject, schema).schema_id == schema_id
    assert client.test_compatibility(subject, schema)
    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"

    # a fresh client resolves the reference by its slash subject to read the record back
    assert AvroDeserializer(client)(encoded, ctx) == record

    with pytest.raises(SchemaRegistryError) as missing:
        client.get_version(subject, 7)
    assert (missing.value.error_code, missing.value.error_message) == (
        40402,
        "Version 7 not found.",
    )
    with pytest.raises(SchemaRegistryError) as referenced:
        client.delete_subject(ref_subject)
    assert referenced.value.error_code == 42206
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1]
    assert client.delete_subject(ref_subject) == [1]
    assert json.loads(client.get_schema(ref_id).schema_str) == address


def test_a_token_without_registry_write_is_refused_on_a_slash_subject(hub: Hub) -> None:
    subject = f"demo-lib-{uuid.uuid4().hex[:8]}/address.avsc"
    body = {"schema": '"string"'}
    headers = hub.headers("subscribe")
    for base in (hub.url("registry"), f"{hub.gateway}/registry"):
        path = f"{base}/subjects/{subject.replace('/', '%2F')}/versions"
        refused = httpx.post(path, json=body, headers=headers, timeout=30)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error_code"] == 403
        allowed = httpx.post(path, json=body, headers=hub.headers("registry:write"), timeout=30)
        assert allowed.status_code == 200, allowed.text
        read = httpx.get(path, headers=headers, timeout=30)
        assert read.json() == [1]
