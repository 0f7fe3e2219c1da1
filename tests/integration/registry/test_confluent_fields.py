"""What an old Confluent client sees: every default answer holds only fields Confluent's Java
client 5.5 knows (its Jackson mapper refused unknown fields until 6.0.3/6.1.1), and ndxp's own
fields come only with ``ndxpExtras=true``.

``strict`` parses an answer as that client's entity classes do: a field the class does not
declare fails the parse, as ``FAIL_ON_UNKNOWN_PROPERTIES`` made it fail there.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.registry.helpers import error, field, record, register, unique

# The JSON properties of Confluent 5.5.0's client entities (client/rest/entities/...).
ENTITIES = {
    "RegisterSchemaResponse": {"id"},
    "Schema": {"subject", "version", "id", "schemaType", "references", "schema"},
    "SchemaString": {"schemaType", "schema", "references", "maxId"},
    "SubjectVersion": {"subject", "version"},
    "Config": {"compatibilityLevel"},
    "ConfigUpdateRequest": {"compatibility"},
    "Mode": {"mode"},
    "CompatibilityCheckResponse": {"is_compatible"},
    "ErrorMessage": {"error_code", "message"},
}


def strict(entity: str, answer: httpx.Response) -> Any:
    """The answer's JSON, parsed as the old client parses ``entity`` (each item of a list)."""
    body = answer.json()
    for item in body if isinstance(body, list) else [body]:
        unknown = set(item) - ENTITIES[entity]
        assert not unknown, f"{entity} has no field {sorted(unknown)}: {answer.request.url}"
    return body


def undocumented(name: str | None = None) -> dict[str, Any]:
    """A valid schema the linter finds two faults in (no record doc, no field doc)."""
    return record(name or unique(), field("code", doc=None), doc=None)


def test_default_answers_hold_only_fields_an_old_client_knows(
    plain_client: httpx.Client, subject: str
) -> None:
    c = plain_client
    base = json.dumps(record(unique("Base"), field("code")))
    ref_subject = f"{subject}-ref"
    base_id = strict("RegisterSchemaResponse", register(c, ref_subject, base))["id"]
    text = json.dumps(undocumented())  # lint warnings under the default level: not sent
    registered = register(c, subject, text)
    assert strict("RegisterSchemaResponse", registered) == {"id": registered.json()["id"]}
    schema_id = registered.json()["id"]
    # and again, already registered: still the id alone
    assert strict("RegisterSchemaResponse", register(c, subject, text)) == {"id": schema_id}
    strict("Schema", c.get(f"/subjects/{subject}/versions/1"))
    strict("Schema", c.get(f"/subjects/{subject}/versions/latest"))
    strict("Schema", c.post(f"/subjects/{subject}", json={"schema": text}))
    strict("Schema", c.get("/schemas", params={"subjectPrefix": subject}))
    strict("SchemaString", c.get(f"/schemas/ids/{schema_id}"))
    strict("SchemaString", c.get(f"/schemas/ids/{base_id}"))
    strict("SubjectVersion", c.get(f"/schemas/ids/{schema_id}/versions"))
    assert strict("Config", c.get("/config")) == {"compatibilityLevel": "BACKWARD"}
    put = c.put(f"/config/{subject}", json={"compatibility": "FULL", "lint": "warn"})
    assert strict("ConfigUpdateRequest", put) == {"compatibility": "FULL"}
    assert strict("Config", c.get(f"/config/{subject}")) == {"compatibilityLevel": "FULL"}
    assert strict("Config", c.delete(f"/config/{subject}")) == {"compatibilityLevel": "FULL"}
    assert strict("ConfigUpdateRequest", c.put(f"/config/{subject}", json={"lint": "off"})) == {}
    strict("Mode", c.get("/mode"))
    strict("Mode", c.get(f"/mode/{subject}", params={"defaultToGlobal": "true"}))
    check = c.post(f"/compatibility/subjects/{subject}/versions/latest", json={"schema": text})
    assert strict("CompatibilityCheckResponse", check) == {"is_compatible": True}
    strict("ErrorMessage", c.get(f"/subjects/{subject}-none/versions"))


def test_refusals_hold_only_error_code_and_message(
    plain_client: httpx.Client, client: httpx.Client, subject: str
) -> None:
    assert client.put(f"/config/{subject}", json={"lint": "enforce"}).status_code == 200
    text = json.dumps(undocumented())
    refused = register(plain_client, subject, text)
    error(refused, 422, 42201)
    strict("ErrorMessage", refused)
    # ndxp's own clients get the findings
    findings = register(client, subject, text).json()["errors"]
    assert [f["rule"] for f in findings] == ["record-doc", "field-doc"]


def test_extras_come_to_a_client_that_asks(plain_client: httpx.Client, subject: str) -> None:
    c, text = plain_client, json.dumps(undocumented())
    extras = {"ndxpExtras": "true"}
    answer = register(c, subject, text, params=extras).json()
    assert set(answer) == {"id", "version", "warnings"} and answer["version"] == 1
    assert [w["rule"] for w in answer["warnings"]] == ["record-doc", "field-doc"]
    assert c.get("/config", params=extras).json() == {
        "compatibilityLevel": "BACKWARD",
        "lint": "warn",
    }
    assert set(register(c, subject, text, params={"ndxpExtras": "false"}).json()) == {"id"}


@pytest.mark.parametrize("value", ["1", "yes", "on", "TRUE"])
def test_extras_flag_reads_as_a_boolean(plain_client: httpx.Client, value: str) -> None:
    answer = plain_client.get("/config", params={"ndxpExtras": value})
    assert "lint" in answer.json()
