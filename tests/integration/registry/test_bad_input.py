"""Bad requests: every one answers with Confluent's error code and stores nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.registry.helpers import (
    V1,
    assert_no_subject,
    error,
    field,
    record,
    register,
    register_ok,
    unique,
    versions,
)

MAX_SCHEMA_BYTES = 1024 * 1024  # the registry's default max_schema_bytes

INVALID_SCHEMAS: dict[str, Any] = {
    "not-json": "{not json",
    "truncated": '{"type": "record", "name": "X", "fields": [',
    "record-without-fields": {"type": "record", "name": "NoFields"},
    "unknown-type": {"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]},
    "unknown-top-level-type": '"Nope"',
    "bad-int-default": record("X", field("count", "int", default="many")),
    "bad-string-default": record("X", field("code", "string", default=None)),
    "bad-enum-default": {
        "type": "enum",
        "name": "Colour",
        "symbols": ["RED", "GREEN"],
        "default": "BLUE",
    },
    "bad-name": {"type": "record", "name": "1x", "fields": []},
    "duplicate-field": record("X", field("code"), field("code")),
    "duplicate-symbol": {"type": "enum", "name": "E", "symbols": ["A", "A"]},
    "empty-union": record("X", field("u", [])),
    "union-in-union": record("X", field("u", ["null", ["int", "string"]])),
    "array-without-items": record("X", field("a", {"type": "array"})),
    "fixed-without-size": {"type": "fixed", "name": "F"},
    "number": "42",
    "empty": "",
    "blank": "   ",
}


@pytest.mark.parametrize("name", list(INVALID_SCHEMAS))
def test_invalid_schema_is_42201_and_stores_nothing(
    client: httpx.Client, subject: str, name: str
) -> None:
    schema = INVALID_SCHEMAS[name]

    error(register(client, subject, schema), 422, 42201)

    assert_no_subject(client, subject)


@pytest.mark.parametrize("name", ["not-json", "unknown-type", "bad-int-default"])
def test_invalid_schema_is_42201_for_an_existing_subject(
    client: httpx.Client, subject: str, name: str
) -> None:
    register_ok(client, subject, record(unique(), field("code")))

    error(register(client, subject, INVALID_SCHEMAS[name]), 422, 42201)

    assert versions(client, subject, deleted=True) == [1]


@pytest.mark.parametrize("schema_type", ["JSON", "PROTOBUF", "XML"])
def test_schema_types_other_than_avro_are_not_supported(
    client: httpx.Client, subject: str, schema_type: str
) -> None:
    text = (
        'syntax = "proto3"; message M { string a = 1; }'
        if schema_type == "PROTOBUF"
        else json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})
    )

    message = error(register(client, subject, text, schemaType=schema_type), 422, 42201)

    assert "not supported" in message
    assert_no_subject(client, subject)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"schema": None},
        {"schema": 5},
    ],
)
def test_malformed_register_bodies_are_42201(
    client: httpx.Client, subject: str, body: dict[str, Any]
) -> None:
    error(client.post(f"/subjects/{subject}/versions", json=body), 422, 42201)

    assert_no_subject(client, subject)


@pytest.mark.parametrize("version", ["0", "abc", "2147483648", "-2", "1.5", "99999999999999999999"])
def test_invalid_versions_are_42202(client: httpx.Client, subject: str, version: str) -> None:
    register_ok(client, subject, record(unique(), field("code")))

    error(client.get(f"/subjects/{subject}/versions/{version}"), 422, 42202)
    error(client.get(f"/subjects/{subject}/versions/{version}/schema"), 422, 42202)
    error(client.get(f"/subjects/{subject}/versions/{version}/referencedby"), 422, 42202)
    error(client.delete(f"/subjects/{subject}/versions/{version}"), 422, 42202)
    error(
        client.delete(f"/subjects/{subject}/versions/{version}", params={"permanent": True}),
        422,
        42202,
    )

    assert versions(client, subject) == [1]


def test_largest_valid_version_is_not_42202(client: httpx.Client, subject: str) -> None:
    register_ok(client, subject, record(unique(), field("code")))

    error(client.get(f"/subjects/{subject}/versions/2147483647"), 404, 40402)


def big_schema(size: int) -> str:
    schema = record(unique(), field("code"), doc="x" * size)
    return json.dumps(schema)


def test_schema_larger_than_the_limit_is_42209(client: httpx.Client, subject: str) -> None:
    text = big_schema(MAX_SCHEMA_BYTES + 1024)
    assert len(text.encode()) > MAX_SCHEMA_BYTES

    error(register(client, subject, text), 422, 42209)

    assert_no_subject(client, subject)


def test_schema_just_under_the_limit_is_accepted(client: httpx.Client, subject: str) -> None:
    text = big_schema(MAX_SCHEMA_BYTES - 4096)
    assert len(text.encode()) < MAX_SCHEMA_BYTES

    reg = register_ok(client, subject, text)

    assert reg["version"] == 1
    assert client.get(f"/schemas/ids/{reg['id']}").json()["schema"] == json.dumps(
        json.loads(text), separators=(",", ":")
    )


def test_request_body_far_over_the_limit_is_42209(client: httpx.Client, subject: str) -> None:
    text = big_schema(3 * MAX_SCHEMA_BYTES)

    error(register(client, subject, text), 422, 42209)

    assert_no_subject(client, subject)


def _post(c: httpx.Client, path: str, content: bytes, content_type: str) -> httpx.Response:
    return c.post(path, content=content, headers={"Content-Type": content_type})


def _put(c: httpx.Client, path: str, content: bytes, content_type: str) -> httpx.Response:
    return c.put(path, content=content, headers={"Content-Type": content_type})


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_wrong_content_type_is_415(client: httpx.Client, subject: str, content_type: str) -> None:
    body = json.dumps({"schema": json.dumps(record(unique(), field("code")))}).encode()

    error(_post(client, f"/subjects/{subject}/versions", body, content_type), 415, 415)
    error(_post(client, f"/subjects/{subject}", body, content_type), 415, 415)
    error(
        _post(client, f"/compatibility/subjects/{subject}/versions/latest", body, content_type),
        415,
        415,
    )
    config = json.dumps({"compatibility": "NONE"}).encode()
    error(_put(client, f"/config/{subject}", config, content_type), 415, 415)
    mode = json.dumps({"mode": "READONLY"}).encode()
    error(_put(client, f"/mode/{subject}", mode, content_type), 415, 415)

    assert_no_subject(client, subject)
    error(client.get(f"/config/{subject}"), 404, 40408)
    error(client.get(f"/mode/{subject}"), 404, 40409)


@pytest.mark.parametrize("content", [b"{not json", b'{"schema": ', b"[1, 2"])
def test_malformed_json_body_is_400(client: httpx.Client, subject: str, content: bytes) -> None:
    error(_post(client, f"/subjects/{subject}/versions", content, V1), 400, 400)
    error(_post(client, f"/subjects/{subject}", content, V1), 400, 400)
    error(_put(client, f"/config/{subject}", content, V1), 400, 400)
    error(_put(client, f"/mode/{subject}", content, V1), 400, 400)
    error(_put(client, "/config", content, V1), 400, 400)

    assert_no_subject(client, subject)
    error(client.get(f"/config/{subject}"), 404, 40408)
    error(client.get(f"/mode/{subject}"), 404, 40409)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/json; charset=utf-8",
        "application/octet-stream",
    ],
)
def test_accepted_request_content_types(
    client: httpx.Client, subject: str, content_type: str
) -> None:
    schema = record(unique(), field("code"))
    body = json.dumps({"schema": json.dumps(schema)}).encode()

    registered = _post(client, f"/subjects/{subject}/versions", body, content_type)
    looked_up = _post(client, f"/subjects/{subject}", body, content_type)
    checked = _post(
        client, f"/compatibility/subjects/{subject}/versions/latest", body, content_type
    )
    config = _put(client, f"/config/{subject}", b'{"compatibility": "FULL"}', content_type)
    mode = _put(client, f"/mode/{subject}", b'{"mode": "READWRITE"}', content_type)

    for resp in (registered, looked_up, checked, config, mode):
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == V1
    assert registered.json()["version"] == 1
    assert looked_up.json()["id"] == registered.json()["id"]
    assert checked.json() == {"is_compatible": True}
    assert config.json() == {"compatibility": "FULL"}
    assert mode.json() == {"mode": "READWRITE"}


def test_responses_are_confluent_json_for_every_get(client: httpx.Client, subject: str) -> None:
    reg = register_ok(client, subject, record(unique(), field("code")))
    paths = [
        "/",
        "/subjects",
        f"/subjects/{subject}/versions",
        f"/subjects/{subject}/versions/1",
        f"/subjects/{subject}/versions/1/referencedby",
        f"/schemas/ids/{reg['id']}",
        f"/schemas/ids/{reg['id']}/subjects",
        f"/schemas/ids/{reg['id']}/versions",
        "/schemas",
        "/schemas/types",
        "/config",
        "/mode",
        "/contexts",
        f"/ndxp/contracts/{subject}",
    ]
    # the media type follows Accept, as Confluent's Jersey resources negotiate it
    for path in paths:
        for accept, answered in [
            (V1, V1),
            ("application/json", "application/json"),
            ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
            ("*/*", V1),
        ]:
            resp = client.get(path, headers={"Accept": accept})
            assert resp.status_code == 200, (path, resp.text)
            assert resp.headers["content-type"] == answered, (path, accept)


@pytest.mark.parametrize("schema_id", ["abc", "1.5", "-1", "99999999999"])
def test_a_schema_id_that_is_not_one_is_not_found(client: httpx.Client, schema_id: str) -> None:
    error(client.get(f"/schemas/ids/{schema_id}"), 404, 40403)
    error(client.get(f"/schemas/ids/{schema_id}/schema"), 404, 40403)


def test_a_reserved_agency_subject_is_linted_without_a_namespace(client: httpx.Client) -> None:
    name = f"ndxp.reserved-{uuid.uuid4().hex[:6]}.v1-value"
    answer = register(client, name, json.dumps(record(unique())))
    assert answer.status_code == 200, answer.text
    assert client.get(f"/ndxp/contracts/{name}").status_code == 200
