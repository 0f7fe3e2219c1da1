"""``/compatibility`` and the compatibility check on register: Confluent's verdicts and messages."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.registry.helpers import (
    V1,
    compact,
    error,
    field,
    record,
    register,
    register_ok,
    unique,
    versions,
)


def check(
    c: httpx.Client, subject: str, schema: Any, version: str | None = "latest", **params: Any
) -> httpx.Response:
    path = f"/compatibility/subjects/{subject}/versions"
    if version is not None:
        path = f"{path}/{version}"
    return c.post(path, json={"schema": json.dumps(schema)}, params=params)


def verdict(c: httpx.Client, subject: str, schema: Any, version: str | None = "latest") -> bool:
    resp = check(c, subject, schema, version)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == V1
    body = resp.json()
    assert set(body) == {"is_compatible"}
    result: bool = body["is_compatible"]
    return result


def missing_default_message(old: dict[str, Any], version: int, level: str) -> list[str]:
    """Confluent's verbose messages for a new field ``extra`` (position 1) without a default."""
    return [
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'extra' at "
        "path '/fields/1' in the new schema has no default value and is missing in the old "
        "schema', additionalInfo:'extra'}",
        f"{{oldSchemaVersion: {version}}}",
        f"{{oldSchema: '{compact(old)}'}}",
        f"{{compatibility: '{level}'}}",
    ]


def two_versions_and_a_third(
    c: httpx.Client, subject: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Registers v1 and v2 (adds ``extra`` with a default); returns v1 and a v3 whose ``extra``
    has no default: compatible with v2 alone, not with v1."""
    name = unique()
    v1 = record(name, field("code"))
    register_ok(c, subject, v1)
    register_ok(c, subject, record(name, field("code"), field("extra", "int", default=0)))
    return v1, record(name, field("code"), field("extra", "int"))


def test_incompatible_registration_is_409_with_details(client: httpx.Client, subject: str) -> None:
    name = unique()
    old = record(name, field("code"))
    new = record(name, field("code"), field("extra", "int"))
    register_ok(client, subject, old)

    message = error(register(client, subject, new), 409, 409)

    assert message == (
        "Schema being registered is incompatible with an earlier schema for subject "
        f'"{subject}", details: [{", ".join(missing_default_message(old, 1, "BACKWARD"))}]'
    )
    assert versions(client, subject) == [1]
    error(client.post(f"/subjects/{subject}", json={"schema": json.dumps(new)}), 404, 40403)


def test_compatible_evolution_registers(client: httpx.Client, subject: str) -> None:
    name = unique()
    register_ok(client, subject, record(name, field("code")))

    new = record(name, field("code"), field("extra", "int", default=0))

    assert verdict(client, subject, new) is True
    assert register_ok(client, subject, new)["version"] == 2


def test_check_against_latest_and_a_version_with_verbose_messages(
    client: httpx.Client, subject: str
) -> None:
    name = unique()
    old = record(name, field("code"))
    new = record(name, field("code"), field("extra", "int"))
    register_ok(client, subject, old)

    for version in ("latest", "1", "-1"):
        assert verdict(client, subject, new, version) is False
        verbose = check(client, subject, new, version, verbose=True)
        assert verbose.status_code == 200
        assert verbose.json() == {
            "is_compatible": False,
            "messages": missing_default_message(old, 1, "BACKWARD"),
        }
    fine = record(name, field("code"), field("extra", "int", default=1))
    assert check(client, subject, fine, verbose=True).json() == {
        "is_compatible": True,
        "messages": [],
    }
    assert versions(client, subject) == [1]


def test_check_without_version_follows_the_level(client: httpx.Client, subject: str) -> None:
    v1, v3 = two_versions_and_a_third(client, subject)

    # BACKWARD: only the latest version counts.
    assert verdict(client, subject, v3, None) is True
    assert verdict(client, subject, v3, "2") is True
    assert verdict(client, subject, v3, "1") is False

    put = client.put(f"/config/{subject}", json={"compatibility": "BACKWARD_TRANSITIVE"})
    assert put.status_code == 200
    assert verdict(client, subject, v3, None) is False
    verbose = check(client, subject, v3, None, verbose=True).json()
    assert verbose == {
        "is_compatible": False,
        "messages": missing_default_message(v1, 1, "BACKWARD_TRANSITIVE"),
    }
    # A version named explicitly is checked alone, whatever the level.
    assert verdict(client, subject, v3, "latest") is True
    error(register(client, subject, v3), 409, 409)
    assert versions(client, subject) == [1, 2]


@pytest.mark.parametrize(
    ("level", "accepted"),
    [
        # new schema adds a field without default: only forward-readable.
        ("BACKWARD", {"add_no_default": False, "remove_no_default": True, "widen": True}),
        ("FORWARD", {"add_no_default": True, "remove_no_default": False, "widen": False}),
        ("FULL", {"add_no_default": False, "remove_no_default": False, "widen": False}),
        ("NONE", {"add_no_default": True, "remove_no_default": True, "widen": True}),
    ],
)
def test_levels_decide_like_confluent(
    client: httpx.Client, subject: str, level: str, accepted: dict[str, bool]
) -> None:
    name = unique()
    base = record(name, field("code"), field("count", "int"))
    changes = {
        "add_no_default": record(name, field("code"), field("count", "int"), field("x", "int")),
        "remove_no_default": record(name, field("code")),
        "widen": record(name, field("code"), field("count", "long")),
    }
    register_ok(client, subject, base)
    assert client.put(f"/config/{subject}", json={"compatibility": level}).status_code == 200

    found = {change: verdict(client, subject, schema) for change, schema in changes.items()}

    assert found == accepted
    for change, schema in changes.items():
        resp = register(client, subject, schema)
        if accepted[change]:
            assert resp.status_code == 200, resp.text
            client.delete(f"/subjects/{subject}/versions/{resp.json()['version']}")
        else:
            error(resp, 409, 409)
    assert versions(client, subject) == [1]


def test_compatibility_errors(client: httpx.Client, subject: str) -> None:
    name = unique()
    schema = record(name, field("code"))

    # No subject yet: anything is compatible with its (absent) latest version.
    assert verdict(client, subject, schema, "latest") is True
    register_ok(client, subject, schema)
    error(check(client, subject, schema, "2"), 404, 40402)
    for bad in ("0", "abc", "2147483648", "-2"):
        error(check(client, subject, schema, bad), 422, 42202)
    error(check(client, subject, {"type": "record", "name": name}), 422, 42201)
    error(check(client, subject, {"type": "Nope"}, None), 422, 42201)
    resp = client.post(
        f"/compatibility/subjects/{subject}/versions/latest",
        content=b"{not json",
    )
    error(resp, 400, 400)
    assert versions(client, subject) == [1]


def test_compatibility_ignores_soft_deleted_versions(client: httpx.Client, subject: str) -> None:
    _, v3 = two_versions_and_a_third(client, subject)
    client.put(f"/config/{subject}", json={"compatibility": "BACKWARD_TRANSITIVE"})
    assert verdict(client, subject, v3, None) is False

    client.delete(f"/subjects/{subject}/versions/1")

    assert verdict(client, subject, v3, None) is True
    error(check(client, subject, v3, "1"), 404, 40402)
    assert register_ok(client, subject, v3)["version"] == 3
