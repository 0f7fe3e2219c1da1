"""ndxp's additions: lint levels on register, the namespace rule, and ``/ndxp/contracts``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.integration.registry.helpers import (
    assert_no_subject,
    compact,
    error,
    field,
    record,
    register,
    register_ok,
    unique,
    versions,
)


def undocumented(name: str) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": [{"name": "code", "type": "string"}]}


def rules(findings: list[dict[str, str]]) -> list[tuple[str, str]]:
    assert all(set(f) == {"rule", "path", "message"} for f in findings), findings
    return [(f["rule"], f["path"]) for f in findings]


def set_lint(c: httpx.Client, subject: str, level: str) -> None:
    resp = c.put(f"/config/{subject}", json={"lint": level})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"lint": level}


def test_lint_level_is_part_of_the_subject_config(client: httpx.Client, subject: str) -> None:
    set_lint(client, subject, "enforce")

    assert client.get(f"/config/{subject}").json() == {
        "compatibilityLevel": "BACKWARD",
        "lint": "enforce",
    }
    both = client.put(f"/config/{subject}", json={"compatibility": "FULL", "lint": "off"})
    assert both.json() == {"compatibility": "FULL", "lint": "off"}
    assert client.get(f"/config/{subject}").json() == {
        "compatibilityLevel": "FULL",
        "lint": "off",
    }
    assert client.delete(f"/config/{subject}").json() == {
        "compatibilityLevel": "FULL",
        "lint": "off",
    }
    error(client.get(f"/config/{subject}"), 404, 40408)


def test_lint_only_config_can_be_deleted(client: httpx.Client, subject: str) -> None:
    set_lint(client, subject, "off")

    deleted = client.delete(f"/config/{subject}")

    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"compatibilityLevel": "BACKWARD", "lint": "off"}
    error(client.get(f"/config/{subject}"), 404, 40408)
    assert client.get(f"/config/{subject}", params={"defaultToGlobal": True}).json() == {
        "compatibilityLevel": "BACKWARD",
        "lint": "warn",
    }


@pytest.mark.parametrize("level", ["strict", "", 3])
def test_invalid_lint_level_is_42203(client: httpx.Client, subject: str, level: object) -> None:
    error(client.put(f"/config/{subject}", json={"lint": level}), 422, 42203)

    error(client.get(f"/config/{subject}"), 404, 40408)


def test_enforce_refuses_an_undocumented_schema_and_stores_nothing(
    client: httpx.Client, subject: str
) -> None:
    set_lint(client, subject, "enforce")
    name = unique()

    resp = register(client, subject, undocumented(name))

    message = error(resp, 422, 42201)
    assert message.startswith("Invalid schema: the contract has 2 lint finding(s)")
    findings = resp.json()["errors"]
    assert rules(findings) == [("record-doc", ""), ("field-doc", "/fields/0")]
    assert name in findings[0]["message"]
    assert "code" in findings[1]["message"]
    assert_no_subject(client, subject)
    error(
        client.post(f"/subjects/{subject}", json={"schema": json.dumps(undocumented(name))}),
        404,
        40401,
    )

    documented = register(client, subject, record(name, field("code")))

    assert documented.status_code == 200, documented.text
    assert set(documented.json()) == {"id", "version"}
    assert versions(client, subject) == [1]


def test_warn_registers_and_returns_the_findings(client: httpx.Client, subject: str) -> None:
    set_lint(client, subject, "warn")

    resp = register(client, subject, undocumented(unique()))

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"id", "version", "warnings"}
    assert body["version"] == 1
    assert rules(body["warnings"]) == [("record-doc", ""), ("field-doc", "/fields/0")]
    assert versions(client, subject) == [1]


def test_warn_is_the_default_and_clean_schemas_get_no_warnings(
    client: httpx.Client, subject: str
) -> None:
    warned = register_ok(client, subject, undocumented(unique()))
    clean = register_ok(client, f"{subject}-clean", record(unique(), field("code")))

    assert rules(warned["warnings"]) == [("record-doc", ""), ("field-doc", "/fields/0")]
    assert set(clean) == {"id", "version"}


def test_off_skips_the_linter(client: httpx.Client, subject: str) -> None:
    set_lint(client, subject, "off")

    body = register_ok(client, subject, undocumented(unique()))

    assert set(body) == {"id", "version"}
    assert body["version"] == 1


def test_a_schema_already_registered_is_returned_whatever_the_lint_level(
    client: httpx.Client, subject: str
) -> None:
    set_lint(client, subject, "off")
    schema = undocumented(unique())
    first = register_ok(client, subject, schema)
    set_lint(client, subject, "enforce")

    again = register_ok(client, subject, schema)

    assert again == first


def dataset_subject() -> tuple[str, str]:
    agency = f"t{uuid.uuid4().hex[:8]}-x"
    return agency, f"{agency}.residence.v1-value"


@pytest.mark.parametrize(
    ("namespace", "rules_found"),
    [
        ("wrong.place", [("namespace", "")]),
        (None, [("namespace", "")]),
        ("vn.gov", [("namespace", "")]),
        ("{expected}", []),
        ("{expected}.population", []),
    ],
)
def test_dataset_subjects_get_the_namespace_rule(
    client: httpx.Client, namespace: str | None, rules_found: list[tuple[str, str]]
) -> None:
    agency, subject = dataset_subject()
    expected = f"vn.gov.{agency.replace('-', '_')}"
    if namespace is not None:
        namespace = namespace.format(expected=expected)
    schema = record(unique(), field("code"), namespace=namespace)

    body = register_ok(client, subject, schema)

    assert rules(body.get("warnings", [])) == rules_found
    if rules_found:
        assert repr(expected) in body["warnings"][0]["message"]


def test_namespace_rule_under_enforce(client: httpx.Client) -> None:
    agency, subject = dataset_subject()
    set_lint(client, subject, "enforce")

    resp = register(client, subject, record(unique(), field("code"), namespace="wrong.place"))

    error(resp, 422, 42201)
    assert rules(resp.json()["errors"]) == [("namespace", "")]
    assert_no_subject(client, subject)
    fixed = record(unique(), field("code"), namespace=f"vn.gov.{agency.replace('-', '_')}")
    assert register_ok(client, subject, fixed)["version"] == 1


def test_other_subjects_do_not_get_the_namespace_rule(client: httpx.Client, subject: str) -> None:
    body = register_ok(client, subject, record(unique(), field("code"), namespace="wrong.place"))

    assert "warnings" not in body


def test_contract_shows_fields_docs_pii_compatibility_and_lint(client: httpx.Client) -> None:
    agency, subject = dataset_subject()
    namespace = f"vn.gov.{agency.replace('-', '_')}"
    schema = record(
        "Residence",
        field("citizen_id", doc="The citizen's id.", pii="basic"),
        field("health_note", ["null", "string"], doc="Notes.", default=None, pii="sensitive"),
        field(
            "address",
            record(
                "Address",
                field("street", doc="The street.", pii="basic"),
                field("ward", doc="The ward."),
                doc="An address.",
            ),
            doc="The new address.",
        ),
        field("changed_on", {"type": "int", "logicalType": "date"}, doc="The day."),
        namespace=namespace,
        doc="A change of residence.",
    )
    reg = register_ok(client, subject, schema)
    assert client.put(f"/config/{subject}", json={"compatibility": "FULL"}).status_code == 200

    resp = client.get(f"/ndxp/contracts/{subject}")

    assert resp.status_code == 200, resp.text
    body = resp.json()
    findings = body["lint"].pop("findings")
    assert body == {
        "subject": subject,
        "version": 1,
        "id": reg["id"],
        "name": "Residence",
        "namespace": namespace,
        "doc": "A change of residence.",
        "compatibility": "FULL",
        "fields": [
            {
                "path": "citizen_id",
                "type": "string",
                "doc": "The citizen's id.",
                "pii": "basic",
                "has_default": False,
                "default": None,
            },
            {
                "path": "health_note",
                "type": "null|string",
                "doc": "Notes.",
                "pii": "sensitive",
                "has_default": True,
                "default": None,
            },
            {
                "path": "address",
                "type": "Address",
                "doc": "The new address.",
                "pii": None,
                "has_default": False,
                "default": None,
            },
            {
                "path": "address.street",
                "type": "string",
                "doc": "The street.",
                "pii": "basic",
                "has_default": False,
                "default": None,
            },
            {
                "path": "address.ward",
                "type": "string",
                "doc": "The ward.",
                "pii": None,
                "has_default": False,
                "default": None,
            },
            {
                "path": "changed_on",
                "type": "date",
                "doc": "The day.",
                "pii": None,
                "has_default": False,
                "default": None,
            },
        ],
        "pii": {"citizen_id": "basic", "health_note": "sensitive", "address.street": "basic"},
        "lint": {"level": "warn"},
        "schema": compact(schema),
    }
    # "address" looks like personal data but carries no pii class.
    assert rules(findings) == [("pii-suspect", "/fields/2")]
    assert reg["warnings"] == findings


def test_contract_follows_the_latest_version(client: httpx.Client, subject: str) -> None:
    name = unique()
    register_ok(client, subject, record(name, field("code")))
    v2 = record(name, field("code"), field("note", ["null", "string"], default=None))
    second = register_ok(client, subject, v2)

    body = client.get(f"/ndxp/contracts/{subject}").json()

    assert (body["version"], body["id"]) == (2, second["id"])
    assert [f["path"] for f in body["fields"]] == ["code", "note"]
    assert body["lint"] == {"level": "warn", "findings": []}
    assert body["compatibility"] == "BACKWARD"

    client.delete(f"/subjects/{subject}/versions/2")

    assert client.get(f"/ndxp/contracts/{subject}").json()["version"] == 1


def test_contract_of_an_unknown_or_deleted_subject_is_40401(
    client: httpx.Client, subject: str
) -> None:
    error(client.get(f"/ndxp/contracts/{subject}"), 404, 40401)
    register_ok(client, subject, record(unique(), field("code")))
    client.delete(f"/subjects/{subject}")

    error(client.get(f"/ndxp/contracts/{subject}"), 404, 40401)
