"""``/subjects``: registering, listing, looking up and deleting, with Confluent's semantics."""

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
    subjects,
    unique,
    versions,
)


def evolutions(name: str, count: int) -> list[dict[str, object]]:
    """``count`` schemas, each adding an optional field: BACKWARD compatible in order."""
    extra = [field(f"note_{i}", ["null", "string"], default=None) for i in range(1, count)]
    return [record(name, field("code"), *extra[:i]) for i in range(count)]


def test_register_returns_the_id_and_version_1_and_stores_the_schema(
    client: httpx.Client, subject: str
) -> None:
    schema = record(unique(), field("code"))

    resp = register(client, subject, schema)

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == V1
    body = resp.json()
    assert set(body) == {"id", "version"}
    assert body["version"] == 1
    assert isinstance(body["id"], int)
    assert body["id"] >= 1
    assert subject in subjects(client)
    assert versions(client, subject) == [1]
    got = client.get(f"/subjects/{subject}/versions/1")
    assert got.status_code == 200
    assert got.headers["content-type"] == V1
    assert got.json() == {
        "subject": subject,
        "version": 1,
        "id": body["id"],
        "schema": compact(schema),
    }


def test_versions_count_up_from_1_and_each_new_schema_gets_a_new_id(
    client: httpx.Client, subject: str
) -> None:
    schemas = evolutions(unique(), 3)

    registered = [register_ok(client, subject, s) for s in schemas]

    assert [r["version"] for r in registered] == [1, 2, 3]
    ids = [r["id"] for r in registered]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert versions(client, subject) == [1, 2, 3]
    for version, schema, reg in zip((1, 2, 3), schemas, registered, strict=True):
        body = client.get(f"/subjects/{subject}/versions/{version}").json()
        assert body == {
            "subject": subject,
            "version": version,
            "id": reg["id"],
            "schema": compact(schema),
        }
    for alias in ("latest", "-1"):
        latest = client.get(f"/subjects/{subject}/versions/{alias}")
        assert latest.status_code == 200
        assert latest.json()["version"] == 3
        assert latest.json()["id"] == ids[2]


def test_registering_the_same_schema_again_returns_its_id_and_adds_no_version(
    client: httpx.Client, subject: str
) -> None:
    v1, v2 = evolutions(unique(), 2)
    first = register_ok(client, subject, v1)
    register_ok(client, subject, v2)

    again = register_ok(client, subject, v1)

    assert again == {"id": first["id"], "version": 1}
    assert versions(client, subject) == [1, 2]


def test_whitespace_differences_are_the_same_schema(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"), field("count", "int"))
    first = register_ok(client, subject, json.dumps(schema, separators=(",", ":")))

    pretty = register_ok(client, subject, "\n  " + json.dumps(schema, indent=4) + "\n\t ")

    assert pretty == first
    assert versions(client, subject) == [1]
    looked_up = client.post(f"/subjects/{subject}", json={"schema": json.dumps(schema, indent=2)})
    assert looked_up.status_code == 200
    assert looked_up.json()["id"] == first["id"]


def test_the_same_schema_in_two_subjects_gets_one_global_id(
    client: httpx.Client, subject: str
) -> None:
    other = f"{subject}-other"
    schema = record(unique(), field("code"))

    a = register_ok(client, subject, schema)
    b = register_ok(client, other, schema)

    assert b == {"id": a["id"], "version": 1}
    ids = client.get(f"/schemas/ids/{a['id']}/subjects")
    assert ids.json() == sorted([subject, other])
    pairs = client.get(f"/schemas/ids/{a['id']}/versions").json()
    assert sorted(pairs, key=lambda p: p["subject"]) == sorted(
        [{"subject": subject, "version": 1}, {"subject": other, "version": 1}],
        key=lambda p: p["subject"],
    )


def test_normalize_makes_key_order_differences_the_same_schema(
    client: httpx.Client, subject: str
) -> None:
    name = unique()
    schema = {
        "type": "record",
        "name": name,
        "doc": "A record.",
        "fields": [{"name": "code", "type": "string", "doc": "The code."}],
    }
    reordered = {
        "fields": [{"doc": "The code.", "type": {"type": "string"}, "name": "code"}],
        "doc": "A record.",
        "name": name,
        "type": "record",
    }
    first = register_ok(client, subject, schema, params={"normalize": True})

    again = register_ok(client, subject, reordered, params={"normalize": True})

    assert again == first
    assert versions(client, subject) == [1]
    found = client.post(
        f"/subjects/{subject}", params={"normalize": True}, json={"schema": json.dumps(reordered)}
    )
    assert found.status_code == 200, found.text
    assert found.json()["id"] == first["id"]
    assert found.json()["version"] == 1


def test_custom_attributes_survive_and_are_returned_as_registered(
    client: httpx.Client, subject: str
) -> None:
    schema = record(
        unique(),
        field("citizen_id", pii="basic"),
        field("diagnosis", ["null", "string"], default=None, pii="sensitive"),
        field("region", pii=None, **{"x-source": "legacy-db", "tags": ["a", "b"]}),
    )
    schema["x-owner"] = "mps"

    reg = register_ok(client, subject, schema)

    by_version = client.get(f"/subjects/{subject}/versions/1").json()
    assert json.loads(by_version["schema"]) == schema
    assert by_version["schema"] == compact(schema)
    by_id = client.get(f"/schemas/ids/{reg['id']}").json()
    assert json.loads(by_id["schema"]) == schema
    raw = client.get(f"/subjects/{subject}/versions/1/schema")
    assert raw.status_code == 200
    assert raw.json() == schema


def test_version_schema_returns_the_bare_schema(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"))
    register_ok(client, subject, schema)

    for version in ("1", "latest", "-1"):
        resp = client.get(f"/subjects/{subject}/versions/{version}/schema")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == V1
        assert resp.text == compact(schema)

    error(client.get(f"/subjects/{subject}/versions/2/schema"), 404, 40402)
    error(client.get(f"/subjects/{subject}-none/versions/1/schema"), 404, 40401)


def test_list_subjects_filters_by_prefix_deleted_and_deleted_only(client: httpx.Client) -> None:
    prefix = f"list-{uuid.uuid4().hex[:8]}-"
    live, gone, partly = f"{prefix}a-value", f"{prefix}b-value", f"{prefix}c-value"
    name = unique()
    register_ok(client, live, record(name, field("code")))
    register_ok(client, gone, record(name, field("code")))
    for schema in evolutions(unique(), 2):
        register_ok(client, partly, schema)
    assert client.delete(f"/subjects/{gone}").json() == [1]
    assert client.delete(f"/subjects/{partly}/versions/1").json() == 1

    assert subjects(client, subjectPrefix=prefix) == [live, partly]
    assert subjects(client, subjectPrefix=prefix, deleted=True) == [live, gone, partly]
    # Confluent: a deleted subject is one whose every version is deleted.
    assert subjects(client, subjectPrefix=prefix, deletedOnly=True) == [gone]
    assert subjects(client, subjectPrefix=f"{prefix}a") == [live]
    assert subjects(client, subjectPrefix=f"{prefix}zzz") == []
    everything = subjects(client)
    assert live in everything
    assert partly in everything
    assert gone not in everything


def test_lookup_returns_subject_version_id_and_schema(client: httpx.Client, subject: str) -> None:
    v1, v2 = evolutions(unique(), 2)
    first = register_ok(client, subject, v1)
    register_ok(client, subject, v2)

    resp = client.post(f"/subjects/{subject}", json={"schema": json.dumps(v1)})

    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == V1
    assert resp.json() == {
        "subject": subject,
        "version": 1,
        "id": first["id"],
        "schema": compact(v1),
    }
    assert versions(client, subject) == [1, 2]


def test_lookup_errors_and_soft_deleted_versions(client: httpx.Client, subject: str) -> None:
    v1, v2 = evolutions(unique(), 2)
    first = register_ok(client, subject, v1)
    register_ok(client, subject, v2)
    unknown = record(unique(), field("code"))

    error(client.post(f"/subjects/{subject}-none", json={"schema": json.dumps(v1)}), 404, 40401)
    error(client.post(f"/subjects/{subject}", json={"schema": json.dumps(unknown)}), 404, 40403)

    assert client.delete(f"/subjects/{subject}/versions/1").status_code == 200
    error(client.post(f"/subjects/{subject}", json={"schema": json.dumps(v1)}), 404, 40403)
    found = client.post(
        f"/subjects/{subject}", params={"deleted": True}, json={"schema": json.dumps(v1)}
    )
    assert found.status_code == 200, found.text
    assert found.json() == {
        "subject": subject,
        "version": 1,
        "id": first["id"],
        "schema": compact(v1),
    }

    assert client.delete(f"/subjects/{subject}").json() == [2]
    error(client.post(f"/subjects/{subject}", json={"schema": json.dumps(v2)}), 404, 40401)
    found = client.post(
        f"/subjects/{subject}", params={"deleted": True}, json={"schema": json.dumps(v2)}
    )
    assert found.status_code == 200
    assert found.json()["version"] == 2
    assert subject not in subjects(client)
    assert f"{subject}-none" not in subjects(client, deleted=True)


def test_delete_subject_soft_then_permanent(client: httpx.Client, subject: str) -> None:
    schemas = evolutions(unique(), 2)
    ids = [register_ok(client, subject, s)["id"] for s in schemas]

    soft = client.delete(f"/subjects/{subject}")

    assert soft.status_code == 200
    assert soft.headers["content-type"] == V1
    assert soft.json() == [1, 2]
    assert subject not in subjects(client)
    assert subject in subjects(client, deleted=True)
    error(client.get(f"/subjects/{subject}/versions"), 404, 40401)
    error(client.get(f"/subjects/{subject}/versions/latest"), 404, 40401)
    error(client.get(f"/subjects/{subject}/versions/1"), 404, 40402)
    assert versions(client, subject, deleted=True) == [1, 2]
    deleted_v1 = client.get(f"/subjects/{subject}/versions/1", params={"deleted": True})
    assert deleted_v1.json() == {
        "subject": subject,
        "version": 1,
        "id": ids[0],
        "schema": compact(schemas[0]),
    }
    # A soft-deleted schema keeps its id: serialized data can still be read.
    assert client.get(f"/schemas/ids/{ids[0]}").status_code == 200

    error(client.delete(f"/subjects/{subject}"), 404, 40404)

    hard = client.delete(f"/subjects/{subject}", params={"permanent": True})

    assert hard.status_code == 200
    assert hard.json() == [1, 2]
    assert subject not in subjects(client, deleted=True)
    error(client.get(f"/subjects/{subject}/versions", params={"deleted": True}), 404, 40401)
    error(client.delete(f"/subjects/{subject}", params={"permanent": True}), 404, 40401)
    error(client.delete(f"/subjects/{subject}"), 404, 40401)


def test_permanent_delete_needs_a_soft_delete_first(client: httpx.Client, subject: str) -> None:
    register_ok(client, subject, record(unique(), field("code")))

    error(client.delete(f"/subjects/{subject}", params={"permanent": True}), 404, 40405)

    assert versions(client, subject) == [1]
    assert subject in subjects(client)


def test_delete_version_soft_then_permanent(client: httpx.Client, subject: str) -> None:
    schemas = evolutions(unique(), 3)
    ids = [register_ok(client, subject, s)["id"] for s in schemas]

    soft = client.delete(f"/subjects/{subject}/versions/2")

    assert soft.status_code == 200
    assert soft.json() == 2
    assert versions(client, subject) == [1, 3]
    assert versions(client, subject, deleted=True) == [1, 2, 3]
    assert versions(client, subject, deletedOnly=True) == [2]
    error(client.get(f"/subjects/{subject}/versions/2"), 404, 40402)
    hidden = client.get(f"/subjects/{subject}/versions/2", params={"deleted": True})
    assert hidden.status_code == 200
    assert hidden.json()["id"] == ids[1]
    error(client.delete(f"/subjects/{subject}/versions/2"), 404, 40406)
    error(client.delete(f"/subjects/{subject}/versions/1", params={"permanent": True}), 404, 40407)
    assert versions(client, subject) == [1, 3]

    hard = client.delete(f"/subjects/{subject}/versions/2", params={"permanent": True})

    assert hard.status_code == 200
    assert hard.json() == 2
    assert versions(client, subject, deleted=True) == [1, 3]
    error(client.get(f"/subjects/{subject}/versions/2", params={"deleted": True}), 404, 40402)
    error(client.delete(f"/subjects/{subject}/versions/2"), 404, 40402)
    error(client.delete(f"/subjects/{subject}/versions/2", params={"permanent": True}), 404, 40402)

    latest = client.delete(f"/subjects/{subject}/versions/latest")

    assert latest.json() == 3
    assert versions(client, subject) == [1]
    assert client.get(f"/subjects/{subject}/versions/latest").json()["version"] == 1


def test_delete_version_of_unknown_subject_or_version(client: httpx.Client, subject: str) -> None:
    error(client.delete(f"/subjects/{subject}/versions/1"), 404, 40401)
    register_ok(client, subject, record(unique(), field("code")))
    error(client.delete(f"/subjects/{subject}/versions/7"), 404, 40402)
    assert versions(client, subject) == [1]


def test_new_versions_follow_soft_deleted_ones(client: httpx.Client, subject: str) -> None:
    v1, v2, v3 = evolutions(unique(), 3)
    register_ok(client, subject, v1)
    second = register_ok(client, subject, v2)
    client.delete(f"/subjects/{subject}/versions/2")

    third = register_ok(client, subject, v3)
    # A soft-deleted schema registered again is a new version with its old id.
    again = register_ok(client, subject, v2)

    assert third["version"] == 3
    assert again == {"id": second["id"], "version": 4}
    assert versions(client, subject) == [1, 3, 4]
    assert versions(client, subject, deleted=True) == [1, 2, 3, 4]


def test_a_soft_deleted_subject_can_be_registered_again(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"))
    first = register_ok(client, subject, schema)
    client.delete(f"/subjects/{subject}")

    again = register_ok(client, subject, schema)

    assert again == {"id": first["id"], "version": 2}
    assert versions(client, subject) == [2]
    assert subject in subjects(client)


def test_deleting_a_subject_deletes_its_compatibility_level(
    client: httpx.Client, subject: str
) -> None:
    # Confluent: "Deletes the specified subject and its associated compatibility level".
    register_ok(client, subject, record(unique(), field("code")))
    assert client.put(f"/config/{subject}", json={"compatibility": "NONE"}).status_code == 200
    assert client.put(f"/mode/{subject}", json={"mode": "READWRITE"}).status_code == 200

    assert client.delete(f"/subjects/{subject}").json() == [1]

    error(client.get(f"/config/{subject}"), 404, 40408)
    error(client.get(f"/mode/{subject}"), 404, 40409)


def test_ids_of_permanently_deleted_schemas_are_never_reused(
    fresh_client: httpx.Client, subject: str
) -> None:
    c = fresh_client
    assert register_ok(c, subject, record(unique(), field("code"))) == {"id": 1, "version": 1}
    c.delete(f"/subjects/{subject}")
    assert c.delete(f"/subjects/{subject}", params={"permanent": True}).json() == [1]

    error(c.get("/schemas/ids/1"), 404, 40403)
    fresh = register_ok(c, f"{subject}-2", record(unique(), field("code")))

    # Confluent never hands an id out twice: clients cache id -> schema forever.
    assert fresh == {"id": 2, "version": 1}
    error(c.get("/schemas/ids/1"), 404, 40403)


def test_unknown_subjects_and_versions(client: httpx.Client, subject: str) -> None:
    error(client.get(f"/subjects/{subject}/versions"), 404, 40401)
    error(client.get(f"/subjects/{subject}/versions/1"), 404, 40401)
    error(client.get(f"/subjects/{subject}/versions/latest"), 404, 40401)
    error(client.delete(f"/subjects/{subject}"), 404, 40401)
    register_ok(client, subject, record(unique(), field("code")))
    error(client.get(f"/subjects/{subject}/versions/2"), 404, 40402)
    error(client.get(f"/subjects/{subject}/versions/2147483647"), 404, 40402)
    assert subject in subjects(client)
