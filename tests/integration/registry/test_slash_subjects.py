"""Subjects holding a ``/`` (``mps/address.avsc``, as file-like reference names often are) on
every endpoint that takes a subject, sent percent-encoded as Confluent's clients send them."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import httpx

from tests.integration.registry.helpers import error, field, record, register_ok, subjects

V1 = "application/vnd.schemaregistry.v1+json"


def at(subject: str) -> str:
    return quote(subject, safe="")


def test_every_endpoint_takes_a_subject_with_a_slash(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:10]
    namespace = f"refs.n{tag}"
    ref_subject = f"refs{tag}/address.avsc"
    subject = f"people{tag}/person.avsc"
    s = at(subject)
    address = record("Address", field("street"), namespace=namespace)
    ref = register_ok(client, at(ref_subject), address)
    assert ref == {"id": ref["id"], "version": 1}
    reference = {"name": f"{namespace}.Address", "subject": ref_subject, "version": 1}
    person = record("Person", field("home", "Address"), namespace=namespace)
    body = {"schema": json.dumps(person), "references": [reference]}
    registered = client.post(f"/subjects/{s}/versions", json=body)
    assert registered.status_code == 200, registered.text
    schema_id = registered.json()["id"]

    assert {ref_subject, subject} <= set(subjects(client))
    assert subjects(client, subjectPrefix=f"people{tag}/") == [subject]
    assert client.post(f"/subjects/{s}", json=body).json()["subject"] == subject
    assert client.get(f"/subjects/{s}/versions").json() == [1]
    latest = client.get(f"/subjects/{s}/versions/latest").json()
    assert (latest["subject"], latest["id"], latest["references"]) == (
        subject,
        schema_id,
        [reference],
    )
    assert client.get(f"/subjects/{s}/versions/1/schema").json() == person
    assert client.get(f"/subjects/{at(ref_subject)}/versions/1/referencedby").json() == [schema_id]
    assert client.get(f"/schemas/ids/{schema_id}/subjects").json() == [subject]
    assert client.get(f"/schemas/ids/{schema_id}/versions").json() == [
        {"subject": subject, "version": 1}
    ]
    for path in (
        f"/compatibility/subjects/{s}/versions",
        f"/compatibility/subjects/{s}/versions/1",
    ):
        answer = client.post(path, json=body)
        assert answer.json() == {"is_compatible": True}, (path, answer.text)

    assert client.put(f"/config/{s}", json={"compatibility": "NONE"}).status_code == 200
    assert client.get(f"/config/{s}").json()["compatibilityLevel"] == "NONE"
    assert client.delete(f"/config/{s}").status_code == 200
    error(client.get(f"/config/{s}"), 404, 40408)
    assert client.put(f"/mode/{s}", json={"mode": "READONLY"}).json() == {"mode": "READONLY"}
    assert client.get(f"/mode/{s}").json() == {"mode": "READONLY"}
    assert client.delete(f"/mode/{s}").json() == {"mode": "READONLY"}
    contract = client.get(f"/ndxp/contracts/{s}")
    assert contract.json()["subject"] == subject, contract.text

    # messages name the subject as the client meant it
    message = error(client.get(f"/subjects/{at(subject + 'x')}/versions"), 404, 40401)
    assert message == f"Subject '{subject}x' not found."

    assert client.delete(f"/subjects/{s}/versions/1").json() == 1
    assert client.delete(f"/subjects/{s}/versions/1", params={"permanent": "true"}).json() == 1
    register_ok(client, s, person, references=[reference])
    assert client.delete(f"/subjects/{s}").json() == [1]
    assert client.delete(f"/subjects/{s}", params={"permanent": "true"}).json() == [1]
    assert subject not in subjects(client, deleted="true")
    # requests are counted by route template, a slash subject's like any other
    metrics = client.get("/metrics").text
    assert 'route="/subjects/{subject}/versions/{version}/referencedby"' in metrics


def test_an_encoded_percent_is_a_subject_of_its_own(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:10]
    slash, escaped = f"lib{tag}/a.avsc", f"lib{tag}%2Fa.avsc"
    register_ok(client, at(escaped), record("Esc", field("code"), namespace=f"n{tag}"))
    assert escaped in subjects(client)
    error(client.get(f"/subjects/{at(slash)}/versions"), 404, 40401)
    assert client.get(f"/subjects/{at(escaped)}/versions").json() == [1]  # sent as %252F
    # a dot segment inside a subject is no path step either
    dotted = f"lib{tag}/../config"
    register_ok(client, at(dotted), record("Dot", field("code"), namespace=f"n{tag}"))
    assert client.get(f"/subjects/{at(dotted)}/versions/1").json()["subject"] == dotted


def test_an_encoded_slash_outside_a_subject_routes_nowhere(client: httpx.Client) -> None:
    for path in ("/subjects%2Fx/versions", "/config%2Fx", "/schemas/ids%2F1"):
        answer = client.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.json()["error_code"] == 404
    error(client.get("/subjects/x/versions%2F1"), 404, 404)
