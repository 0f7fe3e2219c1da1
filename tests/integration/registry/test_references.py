"""Schema references: a schema takes a named type from a version of another subject."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.integration.registry.helpers import (
    assert_no_subject,
    compact,
    error,
    field,
    record,
    register,
    register_ok,
    subjects,
    versions,
)


def address(namespace: str) -> dict[str, Any]:
    return record("Address", field("street"), field("ward"), namespace=namespace)


def person(namespace: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return record("Person", field("code"), field("home", "Address"), *extra, namespace=namespace)


def setup(c: httpx.Client, subject: str) -> tuple[str, str, list[dict[str, Any]], dict[str, Any]]:
    """Address in ``<subject>-address`` v1; returns (namespace, that subject, refs, address)."""
    namespace = f"refs.n{uuid.uuid4().hex[:10]}"
    address_subject = f"{subject}-address"
    schema = address(namespace)
    register_ok(c, address_subject, schema)
    refs = [{"name": f"{namespace}.Address", "subject": address_subject, "version": 1}]
    return namespace, address_subject, refs, schema


def test_a_schema_uses_a_type_from_another_subject(client: httpx.Client, subject: str) -> None:
    namespace, _, refs, _ = setup(client, subject)
    schema = person(namespace)

    resp = register(client, subject, schema, references=refs)

    assert resp.status_code == 200, resp.text
    reg = resp.json()
    assert reg["version"] == 1
    assert client.get(f"/subjects/{subject}/versions/1").json() == {
        "subject": subject,
        "version": 1,
        "id": reg["id"],
        "references": refs,
        "schema": compact(schema),
    }
    assert client.get(f"/schemas/ids/{reg['id']}").json() == {
        "references": refs,
        "schema": compact(schema),
    }
    assert client.get(f"/subjects/{subject}/versions/1/schema").json() == schema
    listed = client.get("/schemas", params={"subjectPrefix": subject, "latestOnly": True}).json()
    assert {
        "subject": subject,
        "version": 1,
        "id": reg["id"],
        "references": refs,
        "schema": compact(schema),
    } in listed


def test_registering_and_looking_up_with_references_again(
    client: httpx.Client, subject: str
) -> None:
    namespace, _, refs, _ = setup(client, subject)
    schema = person(namespace)
    first = register_ok(client, subject, schema, references=refs)

    again = register_ok(client, subject, json.dumps(schema, indent=2), references=refs)
    elsewhere = register_ok(client, f"{subject}-copy", schema, references=refs)
    found = client.post(
        f"/subjects/{subject}", json={"schema": json.dumps(schema), "references": refs}
    )

    assert again == first
    assert elsewhere == {"id": first["id"], "version": 1}
    assert found.status_code == 200, found.text
    assert found.json() == {
        "subject": subject,
        "version": 1,
        "id": first["id"],
        "references": refs,
        "schema": compact(schema),
    }
    assert versions(client, subject) == [1]


def test_referencedby_lists_the_referencing_schema_ids(client: httpx.Client, subject: str) -> None:
    namespace, address_subject, refs, _ = setup(client, subject)
    first = register_ok(client, subject, person(namespace), references=refs)["id"]
    evolved = person(namespace, field("note", ["null", "string"], default=None))
    second = register_ok(client, subject, evolved, references=refs)
    other = register_ok(client, f"{subject}-other", evolved, references=refs)

    assert second["version"] == 2
    assert other["id"] == second["id"]
    for version in ("1", "latest", "-1"):
        resp = client.get(f"/subjects/{address_subject}/versions/{version}/referencedby")
        assert resp.status_code == 200
        assert resp.json() == sorted([first, second["id"]])
    assert client.get(f"/subjects/{subject}/versions/1/referencedby").json() == []
    error(client.get(f"/subjects/{address_subject}/versions/2/referencedby"), 404, 40402)
    error(client.get(f"/subjects/{subject}-none/versions/1/referencedby"), 404, 40401)


def test_a_referenced_version_cannot_be_deleted(client: httpx.Client, subject: str) -> None:
    namespace, address_subject, refs, _ = setup(client, subject)
    user = register_ok(client, subject, person(namespace), references=refs)["id"]

    error(client.delete(f"/subjects/{address_subject}/versions/1"), 422, 42206)
    error(client.delete(f"/subjects/{address_subject}/versions/latest"), 422, 42206)
    error(client.delete(f"/subjects/{address_subject}"), 422, 42206)

    assert versions(client, address_subject) == [1]
    assert address_subject in subjects(client)
    referenced_by = f"/subjects/{address_subject}/versions/1/referencedby"
    assert client.get(referenced_by).json() == [user]

    assert client.delete(f"/subjects/{subject}").json() == [1]

    assert client.get(referenced_by).json() == []
    assert client.delete(f"/subjects/{address_subject}").json() == [1]
    assert address_subject not in subjects(client)


def test_references_to_missing_versions_are_42201(client: httpx.Client, subject: str) -> None:
    namespace, address_subject, refs, _ = setup(client, subject)
    schema = person(namespace)
    missing_version = [{**refs[0], "version": 2}]
    missing_subject = [{**refs[0], "subject": f"{address_subject}-none"}]

    error(register(client, subject, schema, references=missing_version), 422, 42201)
    error(register(client, subject, schema, references=missing_subject), 422, 42201)
    # Without the reference the type is unknown.
    error(register(client, subject, schema), 422, 42201)

    assert_no_subject(client, subject)
    assert client.get(f"/subjects/{address_subject}/versions/1/referencedby").json() == []


def test_a_soft_deleted_version_cannot_be_referenced(client: httpx.Client, subject: str) -> None:
    namespace, address_subject, refs, _ = setup(client, subject)
    client.delete(f"/subjects/{address_subject}/versions/1")

    error(register(client, subject, person(namespace), references=refs), 422, 42201)

    assert_no_subject(client, subject)


def test_contract_of_a_referencing_schema_lists_the_referenced_fields(
    client: httpx.Client, subject: str
) -> None:
    namespace, _, refs, _ = setup(client, subject)
    register_ok(client, subject, person(namespace), references=refs)

    contract = client.get(f"/ndxp/contracts/{subject}")

    assert contract.status_code == 200, contract.text
    assert [f["path"] for f in contract.json()["fields"]] == [
        "code",
        "home",
        "home.street",
        "home.ward",
    ]
    assert contract.json()["fields"][1]["type"] == "Address"
