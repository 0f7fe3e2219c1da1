"""``/config`` and ``/mode``: global and subject-level compatibility, lint level and mode."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.registry.helpers import (
    V1,
    error,
    field,
    record,
    register,
    register_ok,
    subjects,
    unique,
    versions,
)

LEVELS = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)


def incompatible_pair() -> tuple[dict[str, object], dict[str, object]]:
    """Two schemas that only NONE lets follow each other (a field changes type)."""
    name = unique()
    return record(name, field("code")), record(name, field("code", "int"))


# --- /config ---------------------------------------------------------------------------------


def test_global_config_defaults(fresh_client: httpx.Client) -> None:
    resp = fresh_client.get("/config")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.json() == {"compatibilityLevel": "BACKWARD", "lint": "warn"}


def test_put_get_delete_global_config(fresh_client: httpx.Client, subject: str) -> None:
    c = fresh_client

    put = c.put("/config", json={"compatibility": "FULL"})

    assert put.status_code == 200
    assert put.headers["content-type"] == V1
    assert put.json() == {"compatibility": "FULL"}
    assert c.get("/config").json() == {"compatibilityLevel": "FULL", "lint": "warn"}
    assert c.get(f"/config/{subject}", params={"defaultToGlobal": True}).json() == {
        "compatibilityLevel": "FULL",
        "lint": "warn",
    }
    error(c.get(f"/config/{subject}"), 404, 40408)

    deleted = c.delete("/config")

    assert deleted.status_code == 200
    assert deleted.json() == {"compatibilityLevel": "FULL", "lint": "warn"}
    assert c.get("/config").json() == {"compatibilityLevel": "BACKWARD", "lint": "warn"}


@pytest.mark.parametrize("level", LEVELS)
def test_every_compatibility_level_can_be_set(
    client: httpx.Client, subject: str, level: str
) -> None:
    put = client.put(f"/config/{subject}", json={"compatibility": level})

    assert put.status_code == 200
    assert put.json() == {"compatibility": level}
    assert client.get(f"/config/{subject}").json()["compatibilityLevel"] == level


def test_subject_config_overrides_the_global_one(client: httpx.Client, subject: str) -> None:
    other = f"{subject}-other"

    put = client.put(f"/config/{subject}", json={"compatibility": "NONE"})

    assert put.status_code == 200
    assert put.json() == {"compatibility": "NONE"}
    assert client.get(f"/config/{subject}").json() == {
        "compatibilityLevel": "NONE",
        "lint": "warn",
    }
    error(client.get(f"/config/{other}"), 404, 40408)
    assert client.get(f"/config/{other}", params={"defaultToGlobal": True}).json() == {
        "compatibilityLevel": "BACKWARD",
        "lint": "warn",
    }
    old, new = incompatible_pair()
    register_ok(client, subject, old)
    assert register_ok(client, subject, new)["version"] == 2
    register_ok(client, other, old)
    error(register(client, other, new), 409, 409)
    assert versions(client, other) == [1]

    deleted = client.delete(f"/config/{subject}")

    assert deleted.status_code == 200
    assert deleted.json() == {"compatibilityLevel": "NONE", "lint": "warn"}
    error(client.get(f"/config/{subject}"), 404, 40408)


def test_global_config_applies_to_subjects_without_their_own(
    fresh_client: httpx.Client, subject: str
) -> None:
    c = fresh_client
    old, new = incompatible_pair()
    register_ok(c, subject, old)
    error(register(c, subject, new), 409, 409)

    assert c.put("/config", json={"compatibility": "NONE"}).status_code == 200

    assert register_ok(c, subject, new)["version"] == 2
    assert c.put(f"/config/{subject}", json={"compatibility": "FULL"}).status_code == 200
    third = record(old["name"], field("code", "long"))
    error(register(c, subject, third), 409, 409)
    assert versions(c, subject) == [1, 2]


@pytest.mark.parametrize(
    "body",
    [
        {"compatibility": "SIDEWAYS"},
        {"compatibility": ""},
        {"compatibility": 5},
        {"compatibility": None},
        {},
    ],
)
def test_invalid_compatibility_level_is_42203(
    client: httpx.Client, subject: str, body: dict[str, object]
) -> None:
    assert client.put(f"/config/{subject}", json={"compatibility": "FORWARD"}).status_code == 200

    error(client.put(f"/config/{subject}", json=body), 422, 42203)

    assert client.get(f"/config/{subject}").json()["compatibilityLevel"] == "FORWARD"
    error(client.put(f"/config/{subject}-new", json=body), 422, 42203)
    error(client.get(f"/config/{subject}-new"), 404, 40408)


def test_invalid_global_compatibility_level_is_42203(fresh_client: httpx.Client) -> None:
    error(fresh_client.put("/config", json={"compatibility": "SIDEWAYS"}), 422, 42203)

    assert fresh_client.get("/config").json()["compatibilityLevel"] == "BACKWARD"


# --- /mode -----------------------------------------------------------------------------------


def test_global_mode_defaults_to_readwrite(fresh_client: httpx.Client, subject: str) -> None:
    resp = fresh_client.get("/mode")

    assert resp.status_code == 200
    assert resp.headers["content-type"] == V1
    assert resp.json() == {"mode": "READWRITE"}
    error(fresh_client.get(f"/mode/{subject}"), 404, 40409)
    assert fresh_client.get(f"/mode/{subject}", params={"defaultToGlobal": True}).json() == {
        "mode": "READWRITE"
    }


def test_subject_without_a_mode(client: httpx.Client, subject: str) -> None:
    error(client.get(f"/mode/{subject}"), 404, 40409)
    error(client.delete(f"/mode/{subject}"), 404, 40409)
    assert client.get(f"/mode/{subject}", params={"defaultToGlobal": True}).json() == {
        "mode": "READWRITE"
    }


def test_readonly_subject_refuses_writes_but_serves_reads(
    client: httpx.Client, subject: str
) -> None:
    v1 = record(unique(), field("code"))
    v2 = record(v1["name"], field("code"), field("note", ["null", "string"], default=None))
    first = register_ok(client, subject, v1)

    put = client.put(f"/mode/{subject}", json={"mode": "READONLY"})

    assert put.status_code == 200
    assert put.headers["content-type"] == V1
    assert put.json() == {"mode": "READONLY"}
    assert client.get(f"/mode/{subject}").json() == {"mode": "READONLY"}
    error(register(client, subject, v2), 422, 42205)
    error(register(client, subject, v1), 422, 42205)
    assert versions(client, subject) == [1]
    error(client.delete(f"/subjects/{subject}/versions/1"), 422, 42205)
    error(client.delete(f"/subjects/{subject}"), 422, 42205)
    assert versions(client, subject) == [1]
    assert subject in subjects(client)
    lookup = client.post(f"/subjects/{subject}", json={"schema": json.dumps(v1)})
    assert lookup.status_code == 200
    assert lookup.json()["id"] == first["id"]
    assert client.get(f"/subjects/{subject}/versions/1").status_code == 200
    compat = client.post(
        f"/compatibility/subjects/{subject}/versions/latest", json={"schema": json.dumps(v2)}
    )
    assert compat.json() == {"is_compatible": True}

    deleted = client.delete(f"/mode/{subject}")

    assert deleted.status_code == 200
    assert deleted.json() == {"mode": "READONLY"}
    error(client.get(f"/mode/{subject}"), 404, 40409)
    assert register_ok(client, subject, v2)["version"] == 2


def test_global_readonly_and_a_subject_readwrite_override(
    fresh_client: httpx.Client, subject: str
) -> None:
    c = fresh_client
    writable = f"{subject}-writable"
    assert c.put("/mode", json={"mode": "READONLY"}).json() == {"mode": "READONLY"}
    assert c.get("/mode").json() == {"mode": "READONLY"}

    error(register(c, subject, record(unique(), field("code"))), 422, 42205)
    assert subjects(c, deleted=True) == []

    assert c.put(f"/mode/{writable}", json={"mode": "READWRITE"}).status_code == 200
    assert register_ok(c, writable, record(unique(), field("code")))["version"] == 1
    assert c.get(f"/mode/{subject}", params={"defaultToGlobal": True}).json() == {
        "mode": "READONLY"
    }
    assert c.get(f"/mode/{writable}", params={"defaultToGlobal": True}).json() == {
        "mode": "READWRITE"
    }

    deleted = c.delete("/mode")

    assert deleted.json() == {"mode": "READONLY"}
    assert c.get("/mode").json() == {"mode": "READWRITE"}
    assert register_ok(c, subject, record(unique(), field("code")))["version"] == 1


def test_global_readonly_override_beats_subject_modes(
    fresh_client: httpx.Client, subject: str
) -> None:
    c = fresh_client
    schema = record(unique(), field("code"))
    register_ok(c, subject, schema)
    assert c.put(f"/mode/{subject}", json={"mode": "READWRITE"}).status_code == 200

    put = c.put("/mode", json={"mode": "READONLY_OVERRIDE"})

    assert put.status_code == 200
    assert put.json() == {"mode": "READONLY_OVERRIDE"}
    assert c.get("/mode").json() == {"mode": "READONLY_OVERRIDE"}
    other = record(schema["name"], field("code"), field("note", ["null", "string"], default=None))
    error(register(c, subject, other), 422, 42205)
    error(register(c, f"{subject}-new", other), 422, 42205)
    error(c.delete(f"/subjects/{subject}"), 422, 42205)
    assert versions(c, subject) == [1]
    assert subjects(c, deleted=True) == [subject]

    assert c.put("/mode", json={"mode": "READWRITE"}).status_code == 200
    assert register_ok(c, subject, other)["version"] == 2


@pytest.mark.parametrize("body", [{"mode": "WRITEONLY"}, {"mode": ""}, {"mode": 1}, {}])
def test_invalid_mode_is_42204(
    fresh_client: httpx.Client, subject: str, body: dict[str, object]
) -> None:
    c = fresh_client

    error(c.put("/mode", json=body), 422, 42204)
    error(c.put(f"/mode/{subject}", json=body), 422, 42204)

    assert c.get("/mode").json() == {"mode": "READWRITE"}
    error(c.get(f"/mode/{subject}"), 404, 40409)


def test_import_mode_registers_with_the_given_id_and_version(
    fresh_client: httpx.Client, subject: str
) -> None:
    c = fresh_client
    old, incompatible = incompatible_pair()

    put = c.put("/mode", json={"mode": "IMPORT"})

    assert put.status_code == 200
    assert put.json() == {"mode": "IMPORT"}
    first = register(c, subject, old, id=42, version=7)
    assert first.status_code == 200, first.text
    assert first.json()["id"] == 42
    # IMPORT copies schemas as they are: no compatibility check.
    second = register(c, subject, incompatible, id=43, version=8)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == 43
    assert versions(c, subject) == [7, 8]
    assert c.get("/schemas/ids/42").json() == {"schema": json.dumps(old, separators=(",", ":"))}
    assert c.get(f"/subjects/{subject}/versions/8").json()["id"] == 43
    # An id another schema has is refused.
    clash = record(unique(), field("code"))
    error(register(c, f"{subject}-clash", clash, id=42, version=1), 422, 42205)
    assert f"{subject}-clash" not in subjects(c, deleted=True)

    assert c.put("/mode", json={"mode": "READWRITE"}).status_code == 200

    more = record(incompatible["name"], field("code", "int"), field("n", "int", default=0))
    assert register_ok(c, subject, more) == {"id": 44, "version": 9}


def test_explicit_id_outside_import_mode_is_42205(client: httpx.Client, subject: str) -> None:
    schema = record(unique(), field("code"))

    error(register(client, subject, schema, id=1_900_000_000), 422, 42205)

    assert subject not in subjects(client, deleted=True)
    error(client.get("/schemas/ids/1900000000"), 404, 40403)


def test_import_mode_needs_force_when_subjects_exist(
    fresh_client: httpx.Client, subject: str
) -> None:
    c = fresh_client
    register_ok(c, subject, record(unique(), field("code")))

    error(c.put("/mode", json={"mode": "IMPORT"}), 422, 42205)
    assert c.get("/mode").json() == {"mode": "READWRITE"}

    forced = c.put("/mode", params={"force": True}, json={"mode": "IMPORT"})

    assert forced.status_code == 200
    assert forced.json() == {"mode": "IMPORT"}
    assert c.get("/mode").json() == {"mode": "IMPORT"}


def test_subject_import_mode_needs_force_when_the_subject_has_versions(
    client: httpx.Client, subject: str
) -> None:
    empty = f"{subject}-empty"
    register_ok(client, subject, record(unique(), field("code")))

    error(client.put(f"/mode/{subject}", json={"mode": "IMPORT"}), 422, 42205)
    error(client.get(f"/mode/{subject}"), 404, 40409)
    assert client.put(f"/mode/{empty}", json={"mode": "IMPORT"}).json() == {"mode": "IMPORT"}

    forced = client.put(f"/mode/{subject}", params={"force": True}, json={"mode": "IMPORT"})

    assert forced.status_code == 200
    assert forced.json() == {"mode": "IMPORT"}
    assert client.get(f"/mode/{subject}").json() == {"mode": "IMPORT"}
    assert client.delete(f"/mode/{subject}").json() == {"mode": "IMPORT"}
    assert client.delete(f"/mode/{empty}").json() == {"mode": "IMPORT"}
