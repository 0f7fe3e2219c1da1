"""``/schemas``: schemas by global id, the supported types, and the schema listing."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.integration.registry.helpers import (
    V1,
    compact,
    error,
    field,
    record,
    register,
    register_ok,
    unique,
)

UNKNOWN_ID = 2_000_000_000


def test_schema_by_id(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"), field("count", "int"))
    reg = register_ok(client, subject, schema)

    resp = client.get(f"/schemas/ids/{reg['id']}")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.json() == {"schema": compact(schema)}


def test_schema_by_id_bare_schema(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"))
    reg = register_ok(client, subject, schema)

    resp = client.get(f"/schemas/ids/{reg['id']}/schema")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.text == compact(schema)
    assert resp.json() == schema


def test_schema_subjects_and_versions(client: httpx.Client, subject: str) -> None:
    name = unique()
    v1 = record(name, field("code"))
    v2 = record(name, field("code"), field("note", ["null", "string"], default=None))
    other = f"{subject}-other"
    shared = register_ok(client, subject, v1)["id"]
    register_ok(client, subject, v2)
    register_ok(client, other, v1)

    subs = client.get(f"/schemas/ids/{shared}/subjects")
    vers = client.get(f"/schemas/ids/{shared}/versions")

    assert subs.status_code == 200
    assert subs.headers["content-type"] == V1
    assert sorted(subs.json()) == sorted([subject, other])
    assert sorted(vers.json(), key=json.dumps) == sorted(
        [{"subject": subject, "version": 1}, {"subject": other, "version": 1}], key=json.dumps
    )

    client.delete(f"/subjects/{other}/versions/1")

    assert client.get(f"/schemas/ids/{shared}/subjects").json() == [subject]
    assert client.get(f"/schemas/ids/{shared}/versions").json() == [
        {"subject": subject, "version": 1}
    ]
    with_deleted = client.get(f"/schemas/ids/{shared}/subjects", params={"deleted": True})
    assert sorted(with_deleted.json()) == sorted([subject, other])
    deleted_versions = client.get(f"/schemas/ids/{shared}/versions", params={"deleted": True})
    assert sorted(deleted_versions.json(), key=json.dumps) == sorted(
        [{"subject": subject, "version": 1}, {"subject": other, "version": 1}], key=json.dumps
    )


def test_unknown_schema_id_is_40403(client: httpx.Client) -> None:
    for path in ("", "/schema", "/subjects", "/versions"):
        error(client.get(f"/schemas/ids/{UNKNOWN_ID}{path}"), 404, 40403)


def test_schema_types(client: httpx.Client) -> None:
    resp = client.get("/schemas/types")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.json() == ["AVRO"]


def _listing(c: httpx.Client, **params: object) -> list[dict[str, object]]:
    resp = c.get("/schemas", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == V1
    found: list[dict[str, object]] = resp.json()
    return found


def test_list_schemas_by_prefix_latest_only_offset_and_limit(client: httpx.Client) -> None:
    prefix = f"schemas-{uuid.uuid4().hex[:8]}-"
    a, b = f"{prefix}a-value", f"{prefix}b-value"
    name = unique()
    a1 = record(name, field("code"))
    a2 = record(name, field("code"), field("note", ["null", "string"], default=None))
    b1 = record(unique(), field("code"))
    ids = {
        (a, 1): register_ok(client, a, a1)["id"],
        (a, 2): register_ok(client, a, a2)["id"],
        (b, 1): register_ok(client, b, b1)["id"],
    }
    entry = {
        (a, 1): {"subject": a, "version": 1, "id": ids[a, 1], "schema": compact(a1)},
        (a, 2): {"subject": a, "version": 2, "id": ids[a, 2], "schema": compact(a2)},
        (b, 1): {"subject": b, "version": 1, "id": ids[b, 1], "schema": compact(b1)},
    }

    assert _listing(client, subjectPrefix=prefix) == [entry[a, 1], entry[a, 2], entry[b, 1]]
    assert _listing(client, subjectPrefix=prefix, latestOnly=True) == [entry[a, 2], entry[b, 1]]
    assert _listing(client, subjectPrefix=prefix, offset=1) == [entry[a, 2], entry[b, 1]]
    assert _listing(client, subjectPrefix=prefix, limit=2) == [entry[a, 1], entry[a, 2]]
    assert _listing(client, subjectPrefix=prefix, offset=1, limit=1) == [entry[a, 2]]
    assert _listing(client, subjectPrefix=prefix, offset=5) == []
    assert _listing(client, subjectPrefix=f"{prefix}b") == [entry[b, 1]]

    client.delete(f"/subjects/{a}/versions/2")

    assert _listing(client, subjectPrefix=prefix) == [entry[a, 1], entry[b, 1]]
    assert _listing(client, subjectPrefix=prefix, latestOnly=True) == [entry[a, 1], entry[b, 1]]
    assert _listing(client, subjectPrefix=prefix, deleted=True) == [
        entry[a, 1],
        entry[a, 2],
        entry[b, 1],
    ]


def test_list_schemas_without_prefix_lists_every_subject(client: httpx.Client) -> None:
    subject = f"everything-{uuid.uuid4().hex[:8]}-value"
    schema = record(unique(), field("code"))
    reg = register_ok(client, subject, schema)

    found = _listing(client)

    assert {"subject": subject, "version": 1, "id": reg["id"], "schema": compact(schema)} in found


def test_schema_type_avro_is_accepted_explicitly(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"))

    resp = register(client, subject, schema, schemaType="AVRO")

    assert resp.status_code == 200, resp.text
    got = client.get(f"/subjects/{subject}/versions/1").json()
    assert "schemaType" not in got
    assert got["id"] == resp.json()["id"]
