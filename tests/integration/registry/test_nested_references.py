"""References of references: the registry resolves the whole closure, as Confluent's does, on
every path that parses a schema (register, look up, compatibility, normalize, contracts), and
refuses cycles and closures too deep with 42201, never a 500."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.integration.registry.helpers import (
    compact,
    diamond,
    error,
    field,
    record,
    register,
    register_ok,
)


@dataclass
class Chain:
    """Country ← Address (country: Country) ← Person (home: Address), one subject each; Person
    references Address only, so Country reaches it through Address's own reference."""

    namespace: str
    subjects: dict[str, str]

    def ref(self, name: str) -> dict[str, Any]:
        return {"name": f"{self.namespace}.{name}", "subject": self.subjects[name], "version": 1}

    def person(self, *extra: dict[str, Any]) -> dict[str, Any]:
        return record(
            "Person", field("code"), field("home", "Address"), *extra, namespace=self.namespace
        )


def chain(c: httpx.Client, subject: str) -> Chain:
    namespace = f"nested.n{uuid.uuid4().hex[:10]}"
    found = Chain(namespace, {n: f"{subject}-{n.lower()}" for n in ("Country", "Address")})
    country = record("Country", field("iso"), namespace=namespace)
    register_ok(c, found.subjects["Country"], country)
    address = record("Address", field("street"), field("country", "Country"), namespace=namespace)
    register_ok(c, found.subjects["Address"], address, references=[found.ref("Country")])
    return found


def test_a_schema_whose_reference_has_references_registers(
    client: httpx.Client, subject: str
) -> None:
    nested = chain(client, subject)
    refs = [nested.ref("Address")]
    schema = nested.person()

    reg = register_ok(client, subject, schema, references=refs)

    expected = {"references": refs, "schema": compact(schema)}
    assert client.get(f"/schemas/ids/{reg['id']}").json() == expected
    for params in ({"referenceFormat": "qualified"}, {"referenceFormat": "", "format": ""}):
        by_id = client.get(f"/schemas/ids/{reg['id']}", params=params)
        assert by_id.status_code == 200, by_id.text
        assert by_id.json() == expected
    assert client.get(f"/schemas/ids/{reg['id']}/schema").json() == schema
    assert client.get(f"/subjects/{subject}/versions/1/schema").json() == schema
    assert client.get(f"/subjects/{subject}/versions/latest").json() == {
        "subject": subject,
        "version": 1,
        "id": reg["id"],
        **expected,
    }
    again = register_ok(client, subject, json.dumps(schema, indent=1), references=refs)
    assert again == {"id": reg["id"], "version": 1}


def test_lookup_finds_a_schema_with_nested_references(client: httpx.Client, subject: str) -> None:
    nested = chain(client, subject)
    refs = [nested.ref("Address")]
    reg = register_ok(client, subject, nested.person(), references=refs)

    found = client.post(
        f"/subjects/{subject}", json={"schema": json.dumps(nested.person()), "references": refs}
    )

    assert found.status_code == 200, found.text
    assert found.json()["id"] == reg["id"]
    assert found.json()["references"] == refs


def test_compatibility_checks_resolve_nested_references(client: httpx.Client, subject: str) -> None:
    nested = chain(client, subject)
    refs = [nested.ref("Address")]
    register_ok(client, subject, nested.person(), references=refs)
    evolved = nested.person(field("note", ["null", "string"], default=None))
    broken = nested.person(field("note"))  # a new field without a default: not BACKWARD

    def verdict(schema: dict[str, Any]) -> Any:
        resp = client.post(
            f"/compatibility/subjects/{subject}/versions/latest",
            json={"schema": json.dumps(schema), "references": refs},
            params={"verbose": "true"},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["is_compatible"]

    assert verdict(evolved) is True
    assert verdict(broken) is False
    assert register_ok(client, subject, evolved, references=refs)["version"] == 2
    error(register(client, subject, broken, references=refs), 409, 409)


def test_normalize_resolves_nested_references(client: httpx.Client, subject: str) -> None:
    nested = chain(client, subject)
    refs = [nested.ref("Address")]
    # The same Person with the short name written out in full and a type spelt as an object.
    spelt = nested.person()
    spelt["fields"][0]["type"] = {"type": "string"}
    spelt["fields"][1]["type"] = f"{nested.namespace}.Address"

    first = register_ok(
        client, subject, nested.person(), params={"normalize": True}, references=refs
    )
    second = register_ok(client, subject, spelt, params={"normalize": True}, references=refs)
    found = client.post(
        f"/subjects/{subject}",
        params={"normalize": True},
        json={"schema": json.dumps(spelt), "references": refs},
    )

    assert second == {"id": first["id"], "version": 1}
    assert found.status_code == 200, found.text
    assert found.json()["id"] == first["id"]


def test_a_diamond_of_references(client: httpx.Client, subject: str) -> None:
    """Order → Price → Money and Order → Cost → Money: Money reaches Order twice."""
    diamond(client, subject)  # registering Order resolved Money once, through Price
    contract = client.get(f"/ndxp/contracts/{subject}")

    stored = client.get(f"/subjects/{subject}/versions/1").json()["references"]
    assert [r["subject"] for r in stored] == [f"{subject}-price", f"{subject}-cost"]
    assert contract.status_code == 200, contract.text
    assert [f["path"] for f in contract.json()["fields"]] == [
        "price",
        "price.value",
        "price.value.amount",
        "price.value.owner",
        "cost",
        "cost.value",
        "cost.value.amount",
        "cost.value.owner",
    ]
    assert contract.json()["pii"] == {"price.value.owner": "basic", "cost.value.owner": "basic"}


def test_references_nested_too_deeply_are_42201(client: httpx.Client, subject: str) -> None:
    """Sixteen levels of references resolve; a seventeenth is refused."""
    ns = f"deep.n{uuid.uuid4().hex[:10]}"
    refs: list[dict[str, Any]] = []
    for level in range(18):
        inner = [field("inner", f"L{level - 1}")] if level else []
        schema = record(f"L{level}", field("code"), *inner, namespace=ns)
        resp = register(client, f"{subject}-l{level}", schema, references=refs)
        if level < 17:
            assert resp.status_code == 200, (level, resp.text)
        refs = [{"name": f"{ns}.L{level}", "subject": f"{subject}-l{level}", "version": 1}]

    message = error(resp, 422, 42201)
    assert "nested more than 16 deep" in message


def test_a_missing_or_soft_deleted_link_in_the_chain_is_42201(
    client: httpx.Client, subject: str
) -> None:
    nested = chain(client, subject)
    missing = [{**nested.ref("Address"), "version": 2}]

    message = error(register(client, subject, nested.person(), references=missing), 422, 42201)

    assert f'subject "{nested.subjects["Address"]}" and version 2' in message
    error(register(client, subject, nested.person()), 422, 42201)


def test_a_reference_cycle_in_the_store_is_42201_on_every_path(
    fresh_client: httpx.Client, tmp_path: Path, subject: str
) -> None:
    """The API cannot make a cycle (a reference needs an existing version); a store edited by
    hand can. X v1 → Y v1 → X v1: every path that parses X or Y answers 42201, never a 500."""
    ns = f"cycle.n{uuid.uuid4().hex[:10]}"
    sx, sy = f"{subject}-x", f"{subject}-y"
    x_id = register_ok(fresh_client, sx, record("X", field("code"), namespace=ns))["id"]
    x_ref = {"name": f"{ns}.X", "subject": sx, "version": 1}
    y_ref = {"name": f"{ns}.Y", "subject": sy, "version": 1}
    y_id = x_id + 1
    y_text = compact(record("Y", field("x", "X"), namespace=ns))
    with closing(sqlite3.connect(tmp_path / "ndxp.db")) as db, db:
        db.execute(
            'INSERT INTO registry_schemas (id, schema_type, schema, fingerprint, "references")'
            " VALUES (?, 'AVRO', ?, ?, ?)",
            (y_id, y_text, uuid.uuid4().hex, json.dumps([x_ref])),
        )
        db.execute(
            "INSERT INTO registry_subject_versions (subject, version, schema_id) VALUES (?, 1, ?)",
            (sy, y_id),
        )
        db.execute(
            'UPDATE registry_schemas SET "references" = ? WHERE id = ?', (json.dumps([y_ref]), x_id)
        )
        db.executemany(
            "INSERT INTO registry_references (schema_id, name, subject, version)"
            " VALUES (?, ?, ?, 1)",
            [(x_id, y_ref["name"], sy), (y_id, x_ref["name"], sx)],
        )
    z = record("Z", field("y", "Y"), namespace=ns)

    answers = [
        register(fresh_client, f"{subject}-z", z, references=[y_ref]),
        fresh_client.post(f"/subjects/{sy}", json={"schema": json.dumps(z), "references": [y_ref]}),
        fresh_client.post(
            f"/compatibility/subjects/{sy}/versions/latest",
            json={"schema": json.dumps(z), "references": [y_ref]},
        ),
        fresh_client.get(f"/ndxp/contracts/{sy}"),
    ]

    y_x_y = f"{sy} version 1 -> {sx} version 1 -> {sy} version 1"
    x_y_x = f"{sx} version 1 -> {sy} version 1 -> {sx} version 1"  # the contract is Y's own
    for resp, chain_ in zip(answers, [y_x_y, y_x_y, y_x_y, x_y_x], strict=True):
        message = error(resp, 422, 42201)
        details = f"schema references form a cycle: {chain_}"
        assert message == f"Invalid schema of type AVRO, details: {details}"
    by_id = fresh_client.get(f"/schemas/ids/{y_id}")  # shown as stored: nothing to parse
    assert by_id.status_code == 200, by_id.text
    assert by_id.json() == {"references": [x_ref], "schema": y_text}


def test_a_reference_to_version_minus_one_is_the_latest_version(
    client: httpx.Client, subject: str
) -> None:
    """Confluent's rule: ``"version": -1`` is resolved and stored as the latest version's number."""
    nested = chain(client, subject)
    address_subject = nested.subjects["Address"]
    evolved = record(
        "Address",
        field("street"),
        field("country", "Country"),
        field("ward", ["null", "string"], default=None),
        namespace=nested.namespace,
    )
    register_ok(client, address_subject, evolved, references=[nested.ref("Country")])
    latest = [{**nested.ref("Address"), "version": -1}]

    reg = register_ok(client, subject, nested.person(), references=latest)
    found = client.post(
        f"/subjects/{subject}", json={"schema": json.dumps(nested.person()), "references": latest}
    )

    stored = [{**nested.ref("Address"), "version": 2}]
    assert client.get(f"/schemas/ids/{reg['id']}").json()["references"] == stored
    assert found.status_code == 200, found.text
    assert (found.json()["id"], found.json()["references"]) == (reg["id"], stored)
