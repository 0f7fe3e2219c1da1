"""Hostile JSON at the registry: integers beyond 64 bits or 4,300 digits, bodies and schemas
nested 10,000 deep, Avro schemas nested past the limit. Each is a Confluent error (400 for a body
that is not JSON ndxp reads, 42201 for a schema, 40403 or 42202 for an id or version no one can
have), answered at once, with nothing stored."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from services.core.bounded_json import DEFAULT_MAX_DEPTH
from tests.integration.registry.helpers import (
    V1,
    assert_no_subject,
    error,
    field,
    record,
    register,
    register_ok,
    unique,
)

DEEP = 10_000
OVER_4300_DIGITS = "9" * 4_301
OVERSIZED = [str(2**63), str(-(2**63) - 1), "9" * 25, OVER_4300_DIGITS]
SCHEMA = json.dumps(record("Hostile", field("a", "long")))


def raw_post(c: httpx.Client, path: str, text: str) -> httpx.Response:
    return c.post(path, content=text.encode(), headers={"Content-Type": V1})


def nested_records(depth: int) -> str:
    """Records within records, as text (too deep for json.dumps in this process)."""
    text = '"long"'
    for level in range(depth):
        text = (
            f'{{"type": "record", "name": "L{level}", "fields": [{{"name": "i", "type": {text}}}]}}'
        )
    return text


def nested_arrays(depth: int) -> str:
    items = '{"type": "array", "items": ' * depth + '"long"' + "}" * depth
    return f'{{"type": "record", "name": "Arrays", "fields": [{{"name": "a", "type": {items}}}]}}'


@pytest.fixture
def subject() -> str:
    return f"{unique('hostile').lower()}-value"


@pytest.mark.parametrize("number", OVERSIZED)
def test_integers_beyond_64_bits_in_a_body_are_400(
    client: httpx.Client, subject: str, number: str
) -> None:
    for member in ("version", "id"):
        text = f'{{"schema": {json.dumps(SCHEMA)}, "{member}": {number}}}'
        for path in (f"/subjects/{subject}/versions", f"/subjects/{subject}"):
            assert "64-bit" in error(raw_post(client, path, text), 400, 400)
    references = f'[{{"name": "x", "subject": "s", "version": {number}}}]'
    text = f'{{"schema": {json.dumps(SCHEMA)}, "references": {references}}}'
    error(raw_post(client, f"/subjects/{subject}/versions", text), 400, 400)
    assert_no_subject(client, subject)


def test_ids_and_versions_beyond_java_ints_are_refused(client: httpx.Client, subject: str) -> None:
    """Within 64 bits but beyond Confluent's int: refused before they reach a 32-bit column."""
    too_big = 2**31
    assert "32 bits" in error(register(client, subject, SCHEMA, version=too_big), 422, 42201)
    assert "32 bits" in error(register(client, subject, SCHEMA, id=too_big), 422, 42201)
    references = [{"name": "x", "subject": "s", "version": too_big}]
    error(register(client, subject, SCHEMA, references=references), 422, 42201)
    assert_no_subject(client, subject)


@pytest.mark.parametrize("number", OVERSIZED)
def test_integers_beyond_64_bits_in_paths_and_queries_are_4xx(
    client: httpx.Client, number: str
) -> None:
    error(client.get(f"/schemas/ids/{number}"), 404, 40403)
    error(client.get(f"/schemas/ids/{2**31}"), 404, 40403)  # ids are Java ints
    error(client.get("/schemas/ids/\u00b2"), 404, 40403)  # a digit, but not an ASCII one
    error(client.get(f"/subjects/x-value/versions/{number}"), 422, 42202)
    error(client.get("/schemas", params={"offset": number}), 422, 422)


def test_a_body_nested_10000_deep_is_400(client: httpx.Client, subject: str) -> None:
    for deep in ("[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP):
        for path in (
            f"/subjects/{subject}/versions",
            f"/subjects/{subject}",
            f"/compatibility/subjects/{subject}/versions/latest",
        ):
            message = error(raw_post(client, path, f'{{"schema": {deep}}}'), 400, 400)
            assert f"deeper than {DEFAULT_MAX_DEPTH} levels" in message
        config = f'{{"compatibility": {deep}}}'
        headers = {"Content-Type": V1}
        error(client.put(f"/config/{subject}", content=config, headers=headers), 400, 400)
    assert_no_subject(client, subject)


@pytest.mark.parametrize(
    "schema",
    [
        "[" * DEEP + '"long"' + "]" * DEEP,
        json.dumps(record("Big", field("a", "long", default=2**64))),
        '{"type": "long", "size": ' + OVER_4300_DIGITS + "}",
    ],
    ids=["nested-10000", "default-beyond-64-bits", "over-4300-digits"],
)
def test_a_schema_text_beyond_the_limits_is_42201(
    client: httpx.Client, subject: str, schema: str
) -> None:
    error(register(client, subject, schema), 422, 42201)
    register_ok(client, subject, SCHEMA)  # the subject has a version to test against
    for path in (
        f"/compatibility/subjects/{subject}/versions/latest",
        f"/compatibility/subjects/{subject}/versions",
        f"/subjects/{subject}",
    ):
        response = client.post(path, json={"schema": schema})
        error(response, 422, 42201)


@pytest.mark.parametrize("build", [nested_records, nested_arrays], ids=["records", "arrays"])
def test_an_avro_schema_nested_1000_deep_is_42201_at_once(
    client: httpx.Client, subject: str, build: Any
) -> None:
    register_ok(client, subject, SCHEMA)
    deep = build(1_000)
    started = time.monotonic()
    message = error(register(client, subject, deep), 422, 42201)
    assert f"deeper than {DEFAULT_MAX_DEPTH} levels" in message
    compat = client.post(f"/compatibility/subjects/{subject}/versions", json={"schema": deep})
    error(compat, 422, 42201)
    assert time.monotonic() - started < 5


def test_a_schema_at_the_depth_limit_registers_and_is_tested(
    client: httpx.Client, subject: str
) -> None:
    """The limit leaves nothing that walks a schema (fastavro, compatibility, lint, normalizing)
    near Python's recursion limit: a schema exactly at it goes through all of them."""
    arrays = DEFAULT_MAX_DEPTH - 3  # record, its fields, the field: then the arrays
    register_ok(client, subject, nested_arrays(arrays), params={"normalize": "true"})
    again = client.post(
        f"/compatibility/subjects/{subject}/versions/latest",
        json={"schema": nested_arrays(arrays)},
        params={"verbose": "true"},
    )
    assert again.status_code == 200, again.text
    error(register(client, subject, nested_arrays(arrays + 1)), 422, 42201)
