"""Confluent's documented request/response examples, endpoint by endpoint, against a running
registry over HTTP.

Each row of ``CASES`` is one request from Confluent's Schema Registry API reference (its example
requests and the status/error codes it documents per endpoint), sent to a registry that the row's
``given`` steps prepared under subject names of its own, and checked for status, content type and
body as Confluent documents them. Schema strings are compared as parsed JSON: Confluent re-renders
a schema's keys in Avro's order where ndxp keeps them as sent, and clients parse the text anyway.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from services.registry.app import create_app
from tests.fixtures.registry import V1, registry_client, registry_settings
from tests.fixtures.servers import serve_app


@pytest.fixture(scope="module")
def conformance(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> Iterator[str]:
    """One registry for this module: its rows may change global config and mode (and put them
    back), which the session's shared registry does not allow."""
    settings = registry_settings(tmp_path_factory.mktemp("conformance"), kafka_bootstrap)
    with serve_app(create_app(settings)) as server:
        yield server.url


# --- what the rows work on -------------------------------------------------------------------


def docs_record(name: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """The record of the API reference's examples (``field1`` string, ``field2`` int), under a
    name of this row's own so that its schema gets an id of its own."""
    fields = [{"type": "string", "name": "field1"}, {"type": "int", "name": "field2"}]
    return {"type": "record", "name": name, "fields": [*fields, *extra]}


@dataclass
class World:
    """The names and ids a row's ``given`` steps made: subjects unique to the row."""

    subject: str
    other: str
    name: str
    ids: dict[str, int] = field(default_factory=dict)
    undo: list[tuple[str, str, Any]] = field(default_factory=list)

    @property
    def v1(self) -> dict[str, Any]:
        return docs_record(self.name)

    @property
    def v2(self) -> dict[str, Any]:
        """v1 plus a field with a default: BACKWARD (and FULL) compatible with v1."""
        return docs_record(self.name, {"type": "string", "name": "field3", "default": ""})

    @property
    def breaking(self) -> dict[str, Any]:
        """v1 with ``field2`` turned into a string: not BACKWARD compatible with v1."""
        found = self.v1
        found["fields"][1] = {"type": "string", "name": "field2"}
        return found

    @property
    def referencing(self) -> dict[str, Any]:
        """A record whose field is v1, referenced by its full name."""
        return {
            "type": "record",
            "name": f"{self.name}Ref",
            "fields": [{"name": "inner", "type": self.name}],
        }

    @property
    def refs(self) -> list[dict[str, Any]]:
        """References to v1 as ``subject`` version 1."""
        return [{"name": self.name, "subject": self.subject, "version": 1}]

    @property
    def avro_ordered(self) -> dict[str, Any]:
        """v1 with its keys in Avro's order: how Confluent's Java clients send it."""
        fields = [{"name": f["name"], "type": f["type"]} for f in self.v1["fields"]]
        return {"type": "record", "name": self.name, "fields": fields}

    def fill(self, text: str) -> str:
        return text.format(
            s=quote(self.subject, safe=""), o=quote(self.other, safe=""), name=self.name, **self.ids
        )


def body_of(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schema": json.dumps(schema), **extra}


def send(c: httpx.Client, w: World, method: str, path: str, body: Any = None) -> httpx.Response:
    return c.request(method, w.fill(path), json=body)


def ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


# The ``given`` steps: each prepares part of a row's world through the API itself.
def _one(c: httpx.Client, w: World) -> None:
    w.ids["id1"] = ok(send(c, w, "POST", "/subjects/{s}/versions", body_of(w.v1)))["id"]


def _two(c: httpx.Client, w: World) -> None:
    _one(c, w)
    w.ids["id2"] = ok(send(c, w, "POST", "/subjects/{s}/versions", body_of(w.v2)))["id"]


def _also_other(c: httpx.Client, w: World) -> None:
    ok(send(c, w, "POST", "/subjects/{o}/versions", body_of(w.v1)))


def _soft_v1(c: httpx.Client, w: World) -> None:
    ok(send(c, w, "DELETE", "/subjects/{s}/versions/1"))


def _soft_subject(c: httpx.Client, w: World) -> None:
    ok(send(c, w, "DELETE", "/subjects/{s}"))


def _referenced(c: httpx.Client, w: World) -> None:
    """``other`` registers a schema that references ``subject`` version 1."""
    body = body_of(w.referencing, references=w.refs)
    w.ids["ref_id"] = ok(send(c, w, "POST", "/subjects/{o}/versions", body))["id"]


METADATA = {"tags": {"field1": ["PII"]}, "properties": {"owner": "ndxp"}}
RULE_SET = {
    "domainRules": [
        {
            "name": "checkLen",
            "kind": "CONDITION",
            "type": "CEL",
            "mode": "WRITE",
            "expr": "size(message.field1) < 64",
        }
    ]
}


def _with_metadata(c: httpx.Client, w: World) -> None:
    body = body_of(w.v1, metadata=METADATA, ruleSet=RULE_SET)
    w.ids["id1"] = ok(send(c, w, "POST", "/subjects/{s}/versions", body))["id"]


def _subject_full(c: httpx.Client, w: World) -> None:
    ok(send(c, w, "PUT", "/config/{s}", {"compatibility": "FULL"}))


def _subject_readonly(c: httpx.Client, w: World) -> None:
    ok(send(c, w, "PUT", "/mode/{s}", {"mode": "READONLY"}))


def _global_full(c: httpx.Client, w: World) -> None:
    w.undo.append(("DELETE", "/config", None))
    ok(send(c, w, "PUT", "/config", {"compatibility": "FULL"}))


def _global_readonly(c: httpx.Client, w: World) -> None:
    w.undo.append(("PUT", "/mode", {"mode": "READWRITE"}))
    ok(send(c, w, "PUT", "/mode", {"mode": "READONLY"}))


def _slash_subject(c: httpx.Client, w: World) -> None:
    w.subject = f"{w.subject.removesuffix('-value')}/{w.name}.avsc"


GIVEN: dict[str, Callable[[httpx.Client, World], None]] = {
    "one": _one,
    "two": _two,
    "also_other": _also_other,
    "soft_v1": _soft_v1,
    "soft_subject": _soft_subject,
    "referenced": _referenced,
    "with_metadata": _with_metadata,
    "subject_full": _subject_full,
    "subject_readonly": _subject_readonly,
    "global_full": _global_full,
    "global_readonly": _global_readonly,
    "slash_subject": _slash_subject,
}


# --- what the rows expect --------------------------------------------------------------------

Check = Callable[[World, Any], None]


def parsed_schemas(body: Any) -> Any:
    """``body`` with every ``schema`` string parsed, so that key order and spacing do not count."""
    if isinstance(body, list):
        return [parsed_schemas(item) for item in body]
    if isinstance(body, dict):
        return {
            k: json.loads(v) if k == "schema" and isinstance(v, str) else parsed_schemas(v)
            for k, v in body.items()
        }
    return body


def equals(expected: Callable[[World], Any]) -> Check:
    def check(w: World, body: Any) -> None:
        assert parsed_schemas(body) == parsed_schemas(expected(w))

    return check


def entry(w: World, subject: str, version: int, id_key: str, schema: str) -> dict[str, Any]:
    """A subject's version as Confluent shows it (``schemaType`` left out for AVRO)."""
    text = json.dumps(getattr(w, schema))
    return {"subject": getattr(w, subject), "version": version, "id": w.ids[id_key], "schema": text}


def stored(subject: str, version: int, id_key: str, schema: str) -> Check:
    """The body of ``GET /subjects/{s}/versions/{v}`` and of a lookup."""
    return equals(lambda w: entry(w, subject, version, id_key, schema))


def same_items(expected: Callable[[World], list[Any]]) -> Check:
    """The list Confluent documents, in any order (its API reference gives none)."""

    def check(w: World, body: Any) -> None:
        assert isinstance(body, list)
        assert sorted(map(json.dumps, parsed_schemas(body))) == sorted(
            map(json.dumps, parsed_schemas(expected(w)))
        )

    return check


def includes(*items: Callable[[World], Any]) -> Check:
    def check(w: World, body: Any) -> None:
        assert isinstance(body, list)
        for item in items:
            assert item(w) in parsed_schemas(body)

    return check


def excludes(item: Callable[[World], Any]) -> Check:
    def check(w: World, body: Any) -> None:
        assert isinstance(body, list)
        assert item(w) not in parsed_schemas(body)

    return check


def error(code: int, *words: str) -> Check:
    """Confluent's error body: ``error_code`` and a ``message`` (holding ``words``)."""

    def check(w: World, body: Any) -> None:
        assert isinstance(body, dict)
        assert set(body) == {"error_code", "message"}, body
        assert body["error_code"] == code, body
        assert isinstance(body["message"], str)
        assert body["message"]
        for word in words:
            assert w.fill(word) in body["message"], body

    return check


def is_compatible(value: bool) -> Check:
    return equals(lambda w: {"is_compatible": value})


@dataclass(frozen=True)
class Case:
    """One documented request: after ``given``, ``method path`` answers ``status`` with a body
    ``expect`` accepts, in Confluent's media type."""

    name: str
    method: str
    path: str
    status: int
    expect: Check
    given: tuple[str, ...] = ()
    body: Callable[[World], Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = V1


def row(name: str, request: str, status: int, expect: Check, *given: str, **more: Any) -> Case:
    method, _, path = request.partition(" ")
    return Case(name, method, path, status, expect, given, **more)


SUBJECT = "{s}"
CASES: list[Case] = [
    # --- / and metadata ---
    row("root", "GET /", 200, equals(lambda w: {})),
    row("contexts", "GET /contexts", 200, equals(lambda w: ["."])),
    row(
        "metadata-id",
        "GET /v1/metadata/id",
        200,
        lambda w, body: _assert(
            body["scope"]["path"] == []
            and set(body["scope"]["clusters"]) == {"kafka-cluster", "schema-registry-cluster"}
        ),
    ),
    # --- /schemas ---
    row("schema-types", "GET /schemas/types", 200, includes(lambda w: "AVRO")),
    row(
        "schema-by-id",
        "GET /schemas/ids/{id1}",
        200,
        equals(lambda w: {"schema": json.dumps(w.v1)}),
        "one",
    ),
    row(
        "schema-by-id-with-references",
        "GET /schemas/ids/{ref_id}",
        200,
        equals(
            lambda w: {
                "references": w.refs,
                "schema": json.dumps(w.referencing),
            }
        ),
        "one",
        "referenced",
    ),
    row("schema-by-id-raw", "GET /schemas/ids/{id1}/schema", 200, equals(lambda w: w.v1), "one"),
    row(
        "schema-by-id-subjects",
        "GET /schemas/ids/{id1}/subjects",
        200,
        same_items(lambda w: [w.subject, w.other]),
        "one",
        "also_other",
    ),
    row(
        "schema-by-id-versions",
        "GET /schemas/ids/{id1}/versions",
        200,
        same_items(
            lambda w: [{"subject": w.subject, "version": 1}, {"subject": w.other, "version": 1}]
        ),
        "one",
        "also_other",
    ),
    row(
        "schema-by-id-versions-deleted",
        "GET /schemas/ids/{id1}/versions",
        200,
        equals(lambda w: [{"subject": w.subject, "version": 1}]),
        "one",
        "soft_v1",
        params={"deleted": "true"},
    ),
    row(
        "schema-by-id-40403",
        "GET /schemas/ids/2147483647",
        404,
        error(40403, "Schema 2147483647 not found"),
        "one",
    ),
    row(
        "schemas-by-prefix",
        "GET /schemas",
        200,
        equals(
            lambda w: [
                entry(w, "subject", 1, "id1", "v1"),
                entry(w, "subject", 2, "id2", "v2"),
            ]
        ),
        "two",
        params={"subjectPrefix": "{s}"},
    ),
    row(
        "schemas-offset-limit",
        "GET /schemas",
        200,
        equals(lambda w: [entry(w, "subject", 2, "id2", "v2")]),
        "two",
        params={"subjectPrefix": "{s}", "offset": "1", "limit": "1"},
    ),
    row("schema-by-id-subjects-40403", "GET /schemas/ids/2147483647/subjects", 404, error(40403)),
    row("schema-by-id-versions-40403", "GET /schemas/ids/2147483647/versions", 404, error(40403)),
    row(
        "schemas-latest-only",
        "GET /schemas",
        200,
        equals(lambda w: [entry(w, "subject", 2, "id2", "v2")]),
        "two",
        params={"subjectPrefix": "{s}", "latestOnly": "true"},
    ),
    # --- /subjects ---
    row(
        "subjects",
        "GET /subjects",
        200,
        includes(lambda w: w.subject, lambda w: w.other),
        "one",
        "also_other",
    ),
    row(
        "subjects-prefix",
        "GET /subjects",
        200,
        equals(lambda w: [w.subject]),
        "one",
        params={"subjectPrefix": "{s}"},
    ),
    row(
        "subjects-hide-deleted",
        "GET /subjects",
        200,
        excludes(lambda w: w.subject),
        "one",
        "soft_subject",
    ),
    row(
        "subjects-deleted",
        "GET /subjects",
        200,
        includes(lambda w: w.subject),
        "one",
        "soft_subject",
        params={"deleted": "true"},
    ),
    row(
        "subjects-deleted-only",
        "GET /subjects",
        200,
        equals(lambda w: [w.subject]),
        "one",
        "soft_subject",
        params={"deletedOnly": "true", "subjectPrefix": "{s}"},
    ),
    row(
        "lookup",
        "POST /subjects/{s}",
        200,
        stored("subject", 1, "id1", "v1"),
        "one",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "lookup-normalize",
        "POST /subjects/{s}",
        200,
        stored("subject", 1, "id1", "v1"),
        "one",
        body=lambda w: {"schema": json.dumps(w.v1, indent=2)},
        params={"normalize": "true"},
    ),
    row(
        "lookup-deleted",
        "POST /subjects/{s}",
        200,
        stored("subject", 1, "id1", "v1"),
        "two",
        "soft_v1",
        body=lambda w: body_of(w.v1),
        params={"deleted": "true"},
    ),
    row(
        "lookup-avro-key-order",
        "POST /subjects/{s}",
        200,
        stored("subject", 1, "id1", "v1"),
        "one",
        body=lambda w: body_of(w.avro_ordered),
    ),
    row(
        "lookup-soft-deleted-40403",
        "POST /subjects/{s}",
        404,
        error(40403),
        "two",
        "soft_v1",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "lookup-40401",
        "POST /subjects/{s}",
        404,
        error(40401, SUBJECT),
        body=lambda w: body_of(w.v1),
    ),
    row(
        "lookup-40403", "POST /subjects/{s}", 404, error(40403), "one", body=lambda w: body_of(w.v2)
    ),
    row("delete-subject", "DELETE /subjects/{s}", 200, equals(lambda w: [1, 2]), "two"),
    row(
        "delete-subject-permanent",
        "DELETE /subjects/{s}",
        200,
        equals(lambda w: [1]),
        "one",
        "soft_subject",
        params={"permanent": "true"},
    ),
    row("delete-subject-40401", "DELETE /subjects/{s}", 404, error(40401, SUBJECT)),
    row(
        "delete-subject-40404",
        "DELETE /subjects/{s}",
        404,
        error(40404, SUBJECT),
        "one",
        "soft_subject",
    ),
    row(
        "delete-subject-40405",
        "DELETE /subjects/{s}",
        404,
        error(40405, SUBJECT),
        "one",
        params={"permanent": "true"},
    ),
    row(
        "delete-referenced-subject-42206",
        "DELETE /subjects/{s}",
        422,
        error(42206),
        "one",
        "referenced",
    ),
    # --- /subjects/{s}/versions ---
    row("versions", "GET /subjects/{s}/versions", 200, equals(lambda w: [1, 2]), "two"),
    row(
        "versions-hide-deleted",
        "GET /subjects/{s}/versions",
        200,
        equals(lambda w: [2]),
        "two",
        "soft_v1",
    ),
    row(
        "versions-deleted",
        "GET /subjects/{s}/versions",
        200,
        equals(lambda w: [1, 2]),
        "two",
        "soft_v1",
        params={"deleted": "true"},
    ),
    row(
        "versions-deleted-only",
        "GET /subjects/{s}/versions",
        200,
        equals(lambda w: [1]),
        "two",
        "soft_v1",
        params={"deletedOnly": "true"},
    ),
    row("versions-40401", "GET /subjects/{s}/versions", 404, error(40401, SUBJECT)),
    row(
        "register",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(set(body) == {"id"} and isinstance(body["id"], int)),
        body=lambda w: body_of(w.v1),
    ),
    row(
        "register-same-schema-again",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(body["id"] == w.ids["id1"]),
        "one",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "register-avro-key-order",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(body["id"] == w.ids["id1"] and body.get("version", 1) == 1),
        "one",
        body=lambda w: body_of(w.avro_ordered),
    ),
    row(
        "register-same-schema-other-subject",
        "POST /subjects/{o}/versions",
        200,
        lambda w, body: _assert(body["id"] == w.ids["id1"]),
        "one",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "register-normalize",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(body["id"] == w.ids["id1"]),
        "one",
        body=lambda w: {"schema": json.dumps(w.v1, indent=4)},
        params={"normalize": "true"},
    ),
    row(
        "register-with-references",
        "POST /subjects/{o}/versions",
        200,
        lambda w, body: _assert(isinstance(body["id"], int) and body["id"] != w.ids["id1"]),
        "one",
        body=lambda w: body_of(w.referencing, references=w.refs),
    ),
    row(
        "register-with-nested-references",
        "POST /subjects/{s}-top/versions",
        200,
        lambda w, body: _assert(isinstance(body["id"], int)),
        "one",
        "referenced",
        body=lambda w: body_of(
            {
                "type": "record",
                "name": f"{w.name}Top",
                "fields": [{"name": "ref", "type": f"{w.name}Ref"}],
            },
            references=[{"name": f"{w.name}Ref", "subject": w.other, "version": 1}],
        ),
    ),
    row(
        "register-metadata-and-rule-set",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(isinstance(body["id"], int)),
        body=lambda w: body_of(w.v1, metadata=METADATA, ruleSet=RULE_SET),
    ),
    row(
        "version-metadata-and-rule-set",
        "GET /subjects/{s}/versions/1",
        200,
        # Confluent renders a rule's primitive ``disabled`` even when false (Jackson's NON_EMPTY
        # leaves primitives in since 2.7)
        lambda w, body: _assert(
            body["metadata"] == METADATA
            and body["ruleSet"]
            == {"domainRules": [{**RULE_SET["domainRules"][0], "disabled": False}]}
        ),
        "with_metadata",
    ),
    row(
        "register-schema-type-avro",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(isinstance(body["id"], int)),
        body=lambda w: body_of(w.v1, schemaType="AVRO"),
    ),
    row(
        "register-409",
        "POST /subjects/{s}/versions",
        409,
        error(409, "incompatible"),
        "one",
        body=lambda w: body_of(w.breaking),
    ),
    row(
        "register-42201",
        "POST /subjects/{s}/versions",
        422,
        error(42201, "Invalid schema", "of type AVRO"),
        body=lambda w: {"schema": '{"type": "record", "name": "x"'},
    ),
    row(
        "register-42201-missing-reference",
        "POST /subjects/{o}/versions",
        422,
        error(42201),
        body=lambda w: body_of(w.referencing, references=w.refs),
    ),
    row(
        "register-42205-readonly-subject",
        "POST /subjects/{s}/versions",
        422,
        error(42205),
        "one",
        "subject_readonly",
        body=lambda w: body_of(w.v2),
    ),
    row(
        "register-42205-readonly-global",
        "POST /subjects/{s}/versions",
        422,
        error(42205),
        "global_readonly",
        body=lambda w: body_of(w.v1),
    ),
    # --- /subjects/{s}/versions/{v} ---
    row(
        "version",
        "GET /subjects/{s}/versions/1",
        200,
        stored("subject", 1, "id1", "v1"),
        "two",
    ),
    row(
        "version-latest",
        "GET /subjects/{s}/versions/latest",
        200,
        stored("subject", 2, "id2", "v2"),
        "two",
    ),
    row(
        "version-minus-one-is-latest",
        "GET /subjects/{s}/versions/-1",
        200,
        stored("subject", 2, "id2", "v2"),
        "two",
    ),
    row(
        "version-with-references",
        "GET /subjects/{o}/versions/1",
        200,
        equals(
            lambda w: {
                "subject": w.other,
                "version": 1,
                "id": w.ids["ref_id"],
                "references": w.refs,
                "schema": json.dumps(w.referencing),
            }
        ),
        "one",
        "referenced",
    ),
    row(
        "version-deleted",
        "GET /subjects/{s}/versions/1",
        200,
        stored("subject", 1, "id1", "v1"),
        "two",
        "soft_v1",
        params={"deleted": "true"},
    ),
    row(
        "version-soft-deleted-40402",
        "GET /subjects/{s}/versions/1",
        404,
        error(40402),
        "two",
        "soft_v1",
    ),
    row("version-40401", "GET /subjects/{s}/versions/1", 404, error(40401, SUBJECT)),
    row(
        "version-40402",
        "GET /subjects/{s}/versions/7",
        404,
        error(40402, "Version 7 not found."),
        "one",
    ),
    row("version-42202-text", "GET /subjects/{s}/versions/one", 422, error(42202), "one"),
    row(
        "version-42202",
        "GET /subjects/{s}/versions/0",
        422,
        error(
            42202,
            "The specified version '0' is not a valid version id. "
            "Allowed values are between [1, 2^31-1]",
        ),
        "one",
    ),
    row(
        "version-schema", "GET /subjects/{s}/versions/1/schema", 200, equals(lambda w: w.v1), "one"
    ),
    row(
        "version-latest-schema",
        "GET /subjects/{s}/versions/latest/schema",
        200,
        equals(lambda w: w.v2),
        "two",
    ),
    row("version-schema-40402", "GET /subjects/{s}/versions/9/schema", 404, error(40402), "one"),
    row(
        "referenced-by",
        "GET /subjects/{s}/versions/1/referencedby",
        200,
        equals(lambda w: [w.ids["ref_id"]]),
        "one",
        "referenced",
    ),
    row("referenced-by-40401", "GET /subjects/{s}/versions/1/referencedby", 404, error(40401)),
    row(
        "referenced-by-40402", "GET /subjects/{s}/versions/2/referencedby", 404, error(40402), "one"
    ),
    row(
        "referenced-by-none",
        "GET /subjects/{s}/versions/1/referencedby",
        200,
        equals(lambda w: []),
        "one",
    ),
    row("delete-version", "DELETE /subjects/{s}/versions/1", 200, equals(lambda w: 1), "two"),
    row(
        "delete-version-latest",
        "DELETE /subjects/{s}/versions/latest",
        200,
        equals(lambda w: 2),
        "two",
    ),
    row(
        "delete-version-permanent",
        "DELETE /subjects/{s}/versions/1",
        200,
        equals(lambda w: 1),
        "two",
        "soft_v1",
        params={"permanent": "true"},
    ),
    row("delete-version-40401", "DELETE /subjects/{s}/versions/1", 404, error(40401, SUBJECT)),
    row("delete-version-40402", "DELETE /subjects/{s}/versions/5", 404, error(40402), "one"),
    row("delete-version-42202", "DELETE /subjects/{s}/versions/0", 422, error(42202), "one"),
    row(
        "delete-version-40406",
        "DELETE /subjects/{s}/versions/1",
        404,
        error(40406, SUBJECT),
        "two",
        "soft_v1",
    ),
    row(
        "delete-version-40407",
        "DELETE /subjects/{s}/versions/1",
        404,
        error(40407, SUBJECT),
        "two",
        params={"permanent": "true"},
    ),
    row(
        "delete-referenced-version-42206",
        "DELETE /subjects/{s}/versions/1",
        422,
        error(42206),
        "one",
        "referenced",
    ),
    row(
        "delete-referenced-version-permanent-42206",
        "DELETE /subjects/{s}/versions/1",
        422,
        error(42206),
        "one",
        "referenced",
        params={"permanent": "true"},
    ),
    row(
        "delete-referenced-subject-permanent-42206",
        "DELETE /subjects/{s}",
        422,
        error(42206),
        "one",
        "referenced",
        params={"permanent": "true"},
    ),
    # --- /compatibility ---
    row(
        "compatibility-latest",
        "POST /compatibility/subjects/{s}/versions/latest",
        200,
        is_compatible(True),
        "one",
        body=lambda w: body_of(w.v2),
    ),
    row(
        "compatibility-version",
        "POST /compatibility/subjects/{s}/versions/1",
        200,
        is_compatible(False),
        "one",
        body=lambda w: body_of(w.breaking),
    ),
    row(
        "compatibility-all-versions",
        "POST /compatibility/subjects/{s}/versions",
        200,
        is_compatible(True),
        "two",
        body=lambda w: body_of(w.v2),
    ),
    row(
        "compatibility-verbose",
        "POST /compatibility/subjects/{s}/versions/latest",
        200,
        lambda w, body: _assert(
            set(body) == {"is_compatible", "messages"}
            and body["is_compatible"] is False
            and body["messages"]
            and all(isinstance(m, str) for m in body["messages"])
        ),
        "one",
        body=lambda w: body_of(w.breaking),
        params={"verbose": "true"},
    ),
    row(
        "compatibility-verbose-invalid-schema",
        "POST /compatibility/subjects/{s}/versions/latest",
        200,
        lambda w, body: _assert(body["is_compatible"] is False and len(body["messages"]) == 1),
        "one",
        body=lambda w: {"schema": '{"type": "record", "name": "x"'},
        params={"verbose": "true"},
    ),
    row(
        "compatibility-no-subject-latest",
        "POST /compatibility/subjects/{s}/versions/latest",
        200,
        is_compatible(True),
        body=lambda w: body_of(w.v1),
    ),
    row(
        "compatibility-40402-no-subject",
        "POST /compatibility/subjects/{s}/versions/1",
        404,
        error(40402),
        body=lambda w: body_of(w.v1),
    ),
    row(
        "compatibility-40402",
        "POST /compatibility/subjects/{s}/versions/3",
        404,
        error(40402),
        "one",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "compatibility-42201",
        "POST /compatibility/subjects/{s}/versions/latest",
        422,
        error(42201),
        "one",
        body=lambda w: {"schema": '{"type": "record", "name": "x"'},
    ),
    row(
        "compatibility-42202",
        "POST /compatibility/subjects/{s}/versions/0",
        422,
        error(42202),
        "one",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "compatibility-subject-level",
        "POST /compatibility/subjects/{s}/versions/latest",
        200,
        is_compatible(False),
        "one",
        "subject_full",
        # Dropping field2 (no default) is BACKWARD compatible, not FORWARD: FULL refuses it.
        body=lambda w: body_of({**w.v1, "fields": w.v1["fields"][:1]}),
    ),
    # --- /config ---
    row(
        "config",
        "GET /config",
        200,
        equals(lambda w: {"compatibilityLevel": "BACKWARD"}),
    ),
    row(
        "config-put",
        "PUT /config",
        200,
        equals(lambda w: {"compatibility": "FULL"}),
        "global_full",
        body=lambda w: {"compatibility": "FULL"},
    ),
    row(
        "config-after-put",
        "GET /config",
        200,
        lambda w, body: _assert(body["compatibilityLevel"] == "FULL"),
        "global_full",
    ),
    row(
        "config-delete",
        "DELETE /config",
        200,
        equals(lambda w: {"compatibilityLevel": "FULL"}),
        "global_full",
    ),
    row(
        "config-put-42203",
        "PUT /config",
        422,
        error(42203, "Invalid compatibility level"),
        body=lambda w: {"compatibility": "SIDEWAYS"},
    ),
    row(
        "config-subject-put",
        "PUT /config/{s}",
        200,
        equals(lambda w: {"compatibility": "FULL_TRANSITIVE"}),
        body=lambda w: {"compatibility": "FULL_TRANSITIVE"},
    ),
    row(
        "config-subject",
        "GET /config/{s}",
        200,
        equals(lambda w: {"compatibilityLevel": "FULL"}),
        "subject_full",
    ),
    row(
        "config-subject-level-read",
        "GET /config/{s}",
        200,
        lambda w, body: _assert(body["compatibilityLevel"] == "FULL"),
        "subject_full",
    ),
    row("config-subject-40408", "GET /config/{s}", 404, error(40408, SUBJECT)),
    row(
        "config-subject-default-to-global",
        "GET /config/{s}",
        200,
        lambda w, body: _assert(body["compatibilityLevel"] == "BACKWARD"),
        params={"defaultToGlobal": "true"},
    ),
    row(
        "config-subject-put-42203",
        "PUT /config/{s}",
        422,
        error(42203),
        body=lambda w: {"compatibility": "SIDEWAYS"},
    ),
    row(
        "config-subject-delete",
        "DELETE /config/{s}",
        200,
        equals(lambda w: {"compatibilityLevel": "FULL"}),
        "subject_full",
    ),
    row("config-subject-delete-40408", "DELETE /config/{s}", 404, error(40408, SUBJECT)),
    row(
        "config-deleted-with-subject",
        "GET /config/{s}",
        404,
        error(40408),
        "one",
        "subject_full",
        "soft_subject",
    ),
    # --- /mode ---
    row("mode", "GET /mode", 200, equals(lambda w: {"mode": "READWRITE"})),
    row(
        "mode-put",
        "PUT /mode",
        200,
        equals(lambda w: {"mode": "READONLY"}),
        "global_readonly",
        body=lambda w: {"mode": "READONLY"},
    ),
    row("mode-put-42204", "PUT /mode", 422, error(42204), body=lambda w: {"mode": "WRITEONLY"}),
    row(
        "mode-subject-put",
        "PUT /mode/{s}",
        200,
        equals(lambda w: {"mode": "READONLY"}),
        body=lambda w: {"mode": "READONLY"},
    ),
    row(
        "mode-subject",
        "GET /mode/{s}",
        200,
        equals(lambda w: {"mode": "READONLY"}),
        "subject_readonly",
    ),
    row("mode-subject-40409", "GET /mode/{s}", 404, error(40409, SUBJECT)),
    row(
        "mode-subject-default-to-global",
        "GET /mode/{s}",
        200,
        equals(lambda w: {"mode": "READWRITE"}),
        params={"defaultToGlobal": "true"},
    ),
    row(
        "mode-subject-delete",
        "DELETE /mode/{s}",
        200,
        equals(lambda w: {"mode": "READONLY"}),
        "subject_readonly",
    ),
    row("mode-subject-delete-40409", "DELETE /mode/{s}", 404, error(40409, SUBJECT)),
    row(
        "mode-subject-import-42205",
        "PUT /mode/{s}",
        422,
        error(42205),
        "one",
        body=lambda w: {"mode": "IMPORT"},
    ),
    # --- subject names with a slash (percent-encoded) ---
    row(
        "slash-subject-register",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(isinstance(body["id"], int)),
        "slash_subject",
        body=lambda w: body_of(w.v1),
    ),
    row(
        "slash-subject-version",
        "GET /subjects/{s}/versions/1",
        200,
        stored("subject", 1, "id1", "v1"),
        "slash_subject",
        "one",
    ),
    # --- content negotiation and errors in general ---
    row(
        "accept-json",
        "GET /subjects/{s}/versions",
        200,
        equals(lambda w: [1]),
        "one",
        headers={"Accept": "application/json"},
        media_type="application/json",
    ),
    row(
        "accept-weighted",
        "GET /subjects/{s}/versions",
        200,
        equals(lambda w: [1]),
        "one",
        headers={
            "Accept": "application/vnd.schemaregistry.v1+json; q=0.9, application/json; q=0.5"
        },
    ),
    row(
        "accept-406",
        "GET /subjects/{s}/versions",
        406,
        lambda w, body: _assert(isinstance(body, dict) and body["error_code"] == 406),
        "one",
        headers={"Accept": "text/html"},
    ),
    row(
        "content-type-json",
        "POST /subjects/{s}/versions",
        200,
        lambda w, body: _assert(isinstance(body["id"], int)),
        body=lambda w: body_of(w.v1),
        headers={"Content-Type": "application/json"},
    ),
]


def _assert(condition: object) -> None:
    assert condition


# --- running a row ---------------------------------------------------------------------------


@pytest.fixture
def world() -> World:
    hex_ = uuid.uuid4().hex[:12]
    return World(subject=f"conf-{hex_}-value", other=f"conf-{hex_}-other", name=f"test{hex_}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_documented_example(conformance: str, world: World, case: Case) -> None:
    with registry_client(conformance) as c:
        try:
            for step in case.given:
                GIVEN[step](c, world)
            resp = c.request(
                case.method,
                world.fill(case.path),
                json=None if case.body is None else case.body(world),
                params={k: world.fill(v) for k, v in case.params.items()} or None,
                headers=case.headers,
            )
        finally:
            for method, path, undo in reversed(world.undo):
                c.request(method, path, json=undo).raise_for_status()

    assert resp.status_code == case.status, resp.text
    assert resp.headers["content-type"] == case.media_type
    case.expect(world, resp.json())
