"""Subject names on every endpoint that takes one: refused with 42208 when no endpoint takes
them, resolved from Confluent's default context (``:.:<subject>``) to the plain name. These
registries run without tokens: the routes check the name themselves, not only the token gate."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.integration.registry.helpers import (
    error,
    field,
    record,
    register,
    register_ok,
    subjects,
    unique,
    versions,
)

SCHEMA_BODY = {"schema": '"string"'}


def at(subject: str) -> str:
    return quote(subject, safe="")


def every_endpoint(c: httpx.Client, name: str) -> list[httpx.Response]:
    """One request to each endpoint that takes a subject."""
    s = at(name)
    return [
        c.post(f"/subjects/{s}/versions", json=SCHEMA_BODY),
        c.post(f"/subjects/{s}", json=SCHEMA_BODY),
        c.get(f"/subjects/{s}/versions"),
        c.get(f"/subjects/{s}/versions/latest"),
        c.get(f"/subjects/{s}/versions/1/schema"),
        c.get(f"/subjects/{s}/versions/1/referencedby"),
        c.delete(f"/subjects/{s}/versions/1"),
        c.delete(f"/subjects/{s}"),
        c.get(f"/config/{s}"),
        c.put(f"/config/{s}", json={"compatibility": "NONE"}),
        c.delete(f"/config/{s}"),
        c.get(f"/mode/{s}"),
        c.put(f"/mode/{s}", json={"mode": "READONLY"}),
        c.delete(f"/mode/{s}"),
        c.post(f"/compatibility/subjects/{s}/versions", json=SCHEMA_BODY),
        c.post(f"/compatibility/subjects/{s}/versions/latest", json=SCHEMA_BODY),
        c.get(f"/ndxp/contracts/{s}"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        "mps.records.v1-value\x00",
        "mps.records\x07.v1-value",
        "mps.records.v1-value\u200b",
        "\u202emps.records.v1-value",
        " mps.records.v1-value",
        "MPS.records.v1-value",
        ":.mps:mps.records.v1-value",
        "x" * 256,
    ],
    ids=["nul", "bell", "zero-width", "bidi", "space", "case", "context", "long"],
)
def test_every_endpoint_refuses_an_invalid_subject(client: httpx.Client, name: str) -> None:
    for answer in every_endpoint(client, name):
        message = error(answer, 422, 42208)
        assert "is not valid" in message, answer.request.url
    assert not [s for s in subjects(client, deleted="true") if "mps.records" in s.casefold()]


def test_the_default_context_is_the_plain_subject(client: httpx.Client) -> None:
    subject = f"test-{uuid.uuid4().hex[:12]}-value"
    qualified = at(f":.:{subject}")
    namespace = f"refs.n{uuid.uuid4().hex[:10]}"
    register_ok(client, f":.:{subject}", record("Address", field("street"), namespace=namespace))
    assert subject in subjects(client)
    assert f":.:{subject}" not in subjects(client, deleted="true")
    assert versions(client, f":.:{subject}") == versions(client, subject) == [1]
    assert client.get(f"/subjects/{qualified}/versions/1").json()["subject"] == subject
    assert subject in subjects(client, subjectPrefix=":.:test-")
    assert client.put(f"/config/{qualified}", json={"compatibility": "NONE"}).status_code == 200
    assert client.get(f"/config/{at(subject)}").json()["compatibilityLevel"] == "NONE"
    assert client.get(f"/ndxp/contracts/{qualified}").json()["subject"] == subject
    # a reference may name its subject the same way, and is stored under the plain name
    ref = {"name": f"{namespace}.Address", "subject": f":.:{subject}", "version": 1}
    person = record("Person", field("home", "Address"), namespace=namespace)
    other = f"test-{uuid.uuid4().hex[:12]}-value"
    assert register(client, other, person, references=[ref]).status_code == 200
    stored = client.get(f"/subjects/{other}/versions/1").json()["references"]
    assert stored == [ref | {"subject": subject}]


def test_a_reference_to_an_invalid_subject_is_an_invalid_schema(
    client: httpx.Client, subject: str
) -> None:
    ref = [{"name": "X", "subject": "mps.records.v1-value\x00", "version": 1}]
    message = error(register(client, subject, record(unique()), references=ref), 422, 42201)
    assert "U+0000" in message
