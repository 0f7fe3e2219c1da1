"""Error codes and messages word for word as Confluent Schema Registry's (its ``Errors.java`` and
``Rest*Exception`` classes), and content negotiation as its Jersey resources do it."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.registry.helpers import V1, error, field, record, register_ok, unique

INVALID_VERSION = (
    "The specified version '{}' is not a valid version id. "
    'Allowed values are between [1, 2^31-1] and the string "latest"'
)


def check(c: httpx.Client, subject: str, schema: object, version: str) -> httpx.Response:
    body = {"schema": json.dumps(schema)}
    return c.post(f"/compatibility/subjects/{subject}/versions/{version}", json=body)


def test_compatibility_against_a_missing_version_is_40402(
    client: httpx.Client, subject: str
) -> None:
    schema = record(unique(), field("code"))
    # no subject at all: still the version that is missing, as Confluent answers
    assert error(check(client, subject, schema, "1"), 404, 40402) == "Version 1 not found."
    # the version is looked up before the schema is parsed
    error(check(client, subject, {"type": "Nope"}, "3"), 404, 40402)
    assert check(client, subject, schema, "latest").json() == {"is_compatible": True}
    register_ok(client, subject, schema)
    assert error(check(client, subject, schema, "2"), 404, 40402) == "Version 2 not found."


@pytest.mark.parametrize("version", ["0", "abc", "2147483648", "-2"])
def test_an_invalid_version_reads_as_confluents(
    client: httpx.Client, subject: str, version: str
) -> None:
    register_ok(client, subject, record(unique(), field("code")))
    for answer in (
        client.get(f"/subjects/{subject}/versions/{version}"),
        check(client, subject, record(unique()), version),
        client.delete(f"/subjects/{subject}/versions/{version}"),
    ):
        assert error(answer, 422, 42202) == INVALID_VERSION.format(version)


def test_an_invalid_schema_reads_as_confluents(client: httpx.Client, subject: str) -> None:
    for schema in ({"type": "Nope"}, {"type": "record", "name": "R"}, "not json"):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        for answer in (
            client.post(f"/subjects/{subject}/versions", json={"schema": text}),
            client.post(f"/compatibility/subjects/{subject}/versions", json={"schema": text}),
        ):
            message = error(answer, 422, 42201)
            assert message.startswith("Invalid schema of type AVRO, details: "), message


def test_missing_things_read_as_confluents(client: httpx.Client, subject: str) -> None:
    registered = register_ok(client, subject, record(unique(), field("code")))
    missing = registered["id"] + 1_000_000
    assert error(client.get(f"/schemas/ids/{missing}"), 404, 40403) == f"Schema {missing} not found"
    assert (
        error(client.get(f"/schemas/ids/{missing}/schema"), 404, 40403)
        == f"Schema {missing} not found"
    )
    for path in (f"/schemas/ids/{missing}/subjects", f"/schemas/ids/{missing}/versions"):
        assert error(client.get(path), 404, 40403) == "Schema not found"
    looked_up = client.post(f"/subjects/{subject}", json={"schema": json.dumps(record(unique()))})
    assert error(looked_up, 404, 40403) == "Schema not found"
    gone = f"{subject}-none"
    assert error(client.get(f"/subjects/{gone}/versions"), 404, 40401) == (
        f"Subject '{gone}' not found."
    )
    assert error(client.get(f"/subjects/{subject}/versions/9"), 404, 40402) == (
        "Version 9 not found."
    )
    assert error(client.get(f"/mode/{subject}"), 404, 40409) == (
        f"Subject '{subject}' does not have subject-level mode configured"
    )
    assert error(client.get(f"/config/{subject}"), 404, 40408) == (
        f"Subject '{subject}' does not have subject-level compatibility configured"
    )


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        (None, V1),
        ("*/*", V1),
        ("application/*", V1),
        (V1, V1),
        ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
        ("application/json", "application/json"),
        ("application/json, application/vnd.schemaregistry.v1+json;q=0.9", "application/json"),
        (f"{V1};q=0, */*;q=0.8", "application/vnd.schemaregistry+json"),
        ("text/html, application/json;q=0.1", "application/json"),
    ],
)
def test_the_answer_is_in_the_media_type_asked_for(
    registry_url: str, subject: str, accept: str | None, answered: str
) -> None:
    headers = {"Content-Type": V1} | ({"Accept": accept} if accept is not None else {})
    with httpx.Client(base_url=registry_url, headers=headers) as c:
        ok = c.post(f"/subjects/{subject}/versions", json={"schema": '"string"'})
        assert ok.status_code == 200, ok.text
        assert ok.headers["content-type"] == answered
        missing = c.get(f"/subjects/{subject}-none/versions")
        assert (missing.status_code, missing.headers["content-type"]) == (404, answered)
        assert missing.json()["error_code"] == 40401


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*;q=0", f"{V1};q=0"])
def test_an_accept_the_registry_cannot_answer_is_406(
    registry_url: str, subject: str, accept: str
) -> None:
    with httpx.Client(base_url=registry_url, headers={"Accept": accept}) as c:
        for answer in (
            c.get("/subjects"),
            c.post(f"/subjects/{subject}/versions", json={"schema": '"string"'}),
        ):
            assert answer.status_code == 406, answer.text
            assert answer.json() == {"error_code": 406, "message": "HTTP 406 Not Acceptable"}
        assert c.get("/healthz").status_code == 200  # probes take no part
    with httpx.Client(base_url=registry_url) as c:
        assert c.get(f"/subjects/{subject}/versions").status_code == 404  # nothing registered


def test_an_unsupported_request_media_type_is_415(client: httpx.Client, subject: str) -> None:
    answer = client.post(
        f"/subjects/{subject}/versions",
        content=b'{"schema": "\\"string\\""}',
        headers={"Content-Type": "text/plain"},
    )
    assert error(answer, 415, 415).startswith("HTTP 415 Unsupported Media Type")
    for media_type in ("application/json", "application/octet-stream", V1):
        answer = client.post(
            f"/subjects/{subject}/versions",
            content=b'{"schema": "\\"string\\""}',
            headers={"Content-Type": media_type},
        )
        assert answer.status_code == 200, (media_type, answer.text)


def test_verbose_compatibility_reports_an_invalid_schema_as_a_message(
    client: httpx.Client, subject: str
) -> None:
    register_ok(client, subject, record(unique(), field("code")))
    body = {"schema": json.dumps({"type": "Nope"})}
    path = f"/compatibility/subjects/{subject}/versions/latest"
    answer = client.post(path, json=body, params={"verbose": "true"})
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert verdict["is_compatible"] is False
    assert [m.split(", details: ")[0] for m in verdict["messages"]] == [
        "Invalid schema of type AVRO"
    ]
    error(client.post(path, json=body), 422, 42201)  # without verbose, still an error
