"""Confluent's data contracts over HTTP: a schema's ``metadata`` and ``ruleSet`` are stored,
returned on every read, part of the schema's identity, inherited from the subject's latest
version when a registration or look-up leaves them out, and checked (400, 422/42210)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.integration.registry.helpers import compact, error, field, record, register, unique

METADATA = {
    "tags": {"**.national_id": ["PII"]},
    "properties": {"owner": "mps", "email": "data@mps.gov.vn"},
    "sensitive": ["email"],
}
RULES = {
    "domainRules": [
        {"name": "checkId", "kind": "CONDITION", "type": "CEL", "expr": "message.id != ''"}
    ]
}
STORED_RULES = {
    "domainRules": [
        {
            "name": "checkId",
            "kind": "CONDITION",
            "mode": "WRITEREAD",
            "type": "CEL",
            "expr": "message.id != ''",
            "disabled": False,
        }
    ]
}
STORED_METADATA = {
    "tags": {"**.national_id": ["PII"]},
    "properties": {"email": "data@mps.gov.vn", "owner": "mps"},
    "sensitive": ["email"],
}


def schema() -> dict[str, Any]:
    return record(unique(), field("id"), field("national_id"))


def registered(c: httpx.Client, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = c.post(f"/subjects/{subject}/versions", json=body)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_metadata_and_rules_are_returned_on_every_read(
    plain_client: httpx.Client, subject: str
) -> None:
    c, text = plain_client, json.dumps(schema())
    body = {"schema": text, "metadata": METADATA, "ruleSet": RULES}
    schema_id = registered(c, subject, body)["id"]
    expected = {
        "metadata": STORED_METADATA,
        "ruleSet": STORED_RULES,
        "schema": compact(json.loads(text)),
    }
    assert c.get(f"/schemas/ids/{schema_id}").json() == expected
    version = {"subject": subject, "version": 1, "id": schema_id} | expected
    assert c.get(f"/subjects/{subject}/versions/1").json() == version
    assert c.get(f"/subjects/{subject}/versions/latest").json() == version
    assert c.post(f"/subjects/{subject}", json=body).json() == version
    listed = c.get("/schemas", params={"subjectPrefix": subject}).json()
    assert listed == [version]
    # the raw schema stays the schema text alone
    assert c.get(f"/subjects/{subject}/versions/1/schema").json() == json.loads(text)


def test_same_text_other_metadata_is_another_schema(
    plain_client: httpx.Client, subject: str
) -> None:
    c, text = plain_client, json.dumps(schema())
    plain = registered(c, subject, {"schema": text})["id"]
    tagged = registered(c, subject, {"schema": text, "metadata": METADATA})["id"]
    assert tagged != plain
    assert c.get(f"/subjects/{subject}/versions").json() == [1, 2]
    # the same metadata spelled in another order is the same schema
    shuffled = {
        "sensitive": ["email"],
        "properties": dict(reversed(METADATA["properties"].items())),
    }
    again = {"schema": text, "metadata": shuffled | {"tags": {"**.national_id": ["PII", "PII"]}}}
    assert registered(c, subject, again)["id"] == tagged
    # and a schema id is global: the same text and metadata in another subject has the same id
    assert registered(c, f"{subject}-other", {"schema": text, "metadata": METADATA})["id"] == tagged
    assert c.get(f"/subjects/{subject}/versions").json() == [1, 2]
    # ruleSet counts too
    ruled = registered(c, subject, {"schema": text, "metadata": METADATA, "ruleSet": RULES})["id"]
    assert ruled not in (plain, tagged)


def test_a_registration_without_them_inherits_the_latest(
    plain_client: httpx.Client, subject: str
) -> None:
    c = plain_client
    first = schema()
    tagged = registered(c, subject, {"schema": json.dumps(first), "metadata": METADATA})["id"]
    # the same text without metadata: Confluent fills it in from the latest version: no new one
    assert registered(c, subject, {"schema": json.dumps(first)})["id"] == tagged
    assert c.get(f"/subjects/{subject}/versions").json() == [1]
    # a new schema text without metadata carries the latest version's on
    evolved = dict(
        first, fields=[*first["fields"], field("note", ["null", "string"], default=None)]
    )
    second = registered(c, subject, {"schema": json.dumps(evolved), "ruleSet": RULES})["id"]
    found = c.get(f"/schemas/ids/{second}").json()
    assert found["metadata"] == STORED_METADATA
    assert found["ruleSet"] == STORED_RULES
    # an explicit empty metadata replaces it
    cleared = registered(c, subject, {"schema": json.dumps(evolved), "metadata": {}})["id"]
    assert c.get(f"/schemas/ids/{cleared}").json()["metadata"] == {}


def test_look_up_tries_again_with_the_latest_metadata(
    plain_client: httpx.Client, subject: str
) -> None:
    c, text = plain_client, json.dumps(schema())
    registered(c, subject, {"schema": text, "metadata": METADATA})
    found = c.post(f"/subjects/{subject}", json={"schema": text})
    assert found.status_code == 200, found.text
    assert found.json()["version"] == 1 and found.json()["metadata"] == STORED_METADATA
    # other metadata than what is stored: not this schema
    other = {"schema": text, "metadata": {"properties": {"owner": "mof"}}}
    error(c.post(f"/subjects/{subject}", json=other), 404, 40403)


def test_bad_metadata_and_rules_are_refused_and_nothing_is_stored(
    plain_client: httpx.Client, subject: str
) -> None:
    c, text = plain_client, json.dumps(schema())
    for bad in ({"tags": ["PII"]}, {"properties": {"k": 1}}, "PII", {"sensitive": [None]}):
        error(register(c, subject, text, metadata=bad), 400, 400)
        error(c.post(f"/subjects/{subject}", json={"schema": text, "metadata": bad}), 400, 400)
    for bad in ({"domainRules": "x"}, {"domainRules": [{"name": "r", "type": "CEL", "kind": "?"}]}):
        error(register(c, subject, text, ruleSet=bad), 400, 400)
    twice = {"domainRules": [{"name": "r", "type": "CEL"}, {"name": "r", "type": "CEL"}]}
    message = error(register(c, subject, text, ruleSet=twice), 422, 42210)
    assert "duplicate name 'r'" in message
    untyped = {"migrationRules": [{"name": "r", "mode": "UPGRADE"}]}
    assert "Missing rule type" in error(register(c, subject, text, ruleSet=untyped), 422, 42210)
    huge = {"properties": {f"k{i}": "v" * 4000 for i in range(40)}}
    error(register(c, subject, text, metadata=huge), 400, 400)
    error(c.get(f"/subjects/{subject}/versions"), 404, 40401)


def test_compatibility_checks_accept_them(plain_client: httpx.Client, subject: str) -> None:
    c, text = plain_client, json.dumps(schema())
    registered(c, subject, {"schema": text, "metadata": METADATA})
    body = {"schema": text, "metadata": {"properties": {"owner": "mof"}}, "ruleSet": RULES}
    answer = c.post(f"/compatibility/subjects/{subject}/versions/latest", json=body)
    assert answer.json() == {"is_compatible": True}
    error(
        c.post(f"/compatibility/subjects/{subject}/versions", json=body | {"ruleSet": []}), 400, 400
    )


def test_the_contract_view_counts_confluent_pii_tags(
    plain_client: httpx.Client, subject: str
) -> None:
    c = plain_client
    tagged = record(
        unique(),
        field("id"),
        field("national_id"),
        field("full_name", **{"confluent:tags": ["PII"]}),
        namespace="vn.gov.mps",
    )
    registered(c, subject, {"schema": json.dumps(tagged), "metadata": METADATA})
    contract = c.get(f"/ndxp/contracts/{subject}").json()
    assert contract["pii"] == {"national_id": "sensitive", "full_name": "sensitive"}
    assert [f["pii"] for f in contract["fields"]] == [None, "sensitive", "sensitive"]
    # the stored schema is as sent: the metadata's tags are not written into it
    stored = json.loads(c.get(f"/subjects/{subject}/versions/1").json()["schema"])
    assert stored == tagged


def test_tag_paths_times_fields_are_bounded(plain_client: httpx.Client, subject: str) -> None:
    """Every read of a contract's personal data matches each field against each tag path: a
    schema whose pairs would cost more than MAX_TAG_MATCHES is refused with 400, whether the
    paths come with it or from the version it inherits them from, and nothing is stored."""
    c, name = plain_client, unique()
    many_paths = {"tags": {f"*x*x*x*y{i:04d}": ["PII"] for i in range(1000)}}
    few_fields = record(name, field("id"))
    optional = [field(f"f{i}", ["null", "string"], default=None) for i in range(60)]
    many_fields = record(name, field("id"), *optional)
    message = error(register(c, subject, many_fields, metadata=many_paths), 400, 400)
    assert "1000 paths for 61 fields" in message
    error(c.get(f"/subjects/{subject}/versions"), 404, 40401)
    first = register(c, subject, few_fields, metadata=many_paths)
    assert first.status_code == 200, first.text
    error(register(c, subject, many_fields), 400, 400)  # the paths v1 has, on 61 fields
    assert c.get(f"/subjects/{subject}/versions").json() == [1]
