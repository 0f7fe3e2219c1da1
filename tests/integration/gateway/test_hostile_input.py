"""Hostile input at the gateway: integers beyond 64 bits, over Python's 4,300-digit limit, JSON
nested 10,000 deep, contracts nested past the limit. Each is a 4xx problem with a stable code;
nothing is written."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.core.bounded_json import DEFAULT_MAX_DEPTH
from tests.fixtures.catalog import Caller, Hub
from tests.integration.gateway.catalog_data import dataset_body
from tests.integration.gateway.test_publish import (
    WRITER,
    Published,
    end_offsets,
    make_dataset,
    post,
    reading,
)

OVER_INT64 = str(2**63)
OVER_4300_DIGITS = "9" * 4_301
DEEP = 10_000


@pytest.fixture
async def dataset(hub: Hub) -> Published:
    return await make_dataset(hub, await hub.caller(*WRITER))


def nested_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["instance"] == f"urn:ndxp:request:{response.headers['x-request-id']}"
    return body


def nested_contract(agency: str, records: int) -> dict[str, Any]:
    """A record within a record ``records`` deep: 3 levels of JSON each."""
    inner: Any = "long"
    for level in range(records):
        inner = {
            "type": "record",
            "name": f"Level{level}",
            "doc": "One level.",
            "fields": [{"name": "inner", "type": inner, "doc": "The level below."}],
        }
    return {**inner, "name": "Nested", "namespace": f"vn.gov.{agency}"}


async def test_over_int64_in_a_query_parameter_is_422(hub: Hub, ops: Caller) -> None:
    async with hub.http(ops) as http:
        for query in (f"after={OVER_INT64}", f"after={OVER_4300_DIGITS}", f"limit={OVER_INT64}"):
            body = assert_problem(await http.get(f"/v1/audit?{query}"), 422, "invalid_request")
            assert body["errors"][0]["loc"][:1] == ["query"]
        # and the largest 64-bit value is simply a cursor past the end
        assert (await http.get(f"/v1/audit?after={2**63 - 1}")).status_code == 200


async def test_audit_times_past_utc_range_or_without_offset_are_422(hub: Hub, ops: Caller) -> None:
    async with hub.http(ops) as http:
        for moment in (
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "2026-01-01T00:00",
        ):
            for name in ("since", "until"):
                query = httpx.QueryParams({name: moment})
                body = assert_problem(await http.get(f"/v1/audit?{query}"), 422, "invalid_request")
                assert body["errors"][0]["loc"] == ["query", name]
        # the ends of the range still answer
        query = httpx.QueryParams(since="0001-01-01T00:00:00Z", until="9999-12-31T23:59:59Z")
        assert (await http.get(f"/v1/audit?{query}")).status_code == 200


async def test_over_int64_in_body_fields_is_400_and_creates_nothing(hub: Hub, ops: Caller) -> None:
    async with hub.http(ops) as http:
        for number in (OVER_INT64, str(-(2**63) - 1), OVER_4300_DIGITS):
            body = dataset_body(ops.agency)
            text = json.dumps(body).replace('"partitions": 4', f'"partitions": {number}')
            response = await http.post(
                "/v1/datasets", content=text, headers={"Content-Type": "application/json"}
            )
            problem = assert_problem(response, 400, "json_number_out_of_range")
            assert "signed 64-bit" in problem["detail"]
            assert (await http.get(f"/v1/catalog/{ops.agency}.{body['name']}")).status_code == 404


async def test_json_nested_10000_deep_is_400(hub: Hub, ops: Caller) -> None:
    async with hub.http(ops) as http:
        for deep in (nested_array(DEEP), nested_object(DEEP)):
            response = await http.post(
                "/v1/datasets",
                content=f'{{"name": "x", "schema": {deep}}}',
                headers={"Content-Type": "application/json"},
            )
            problem = assert_problem(response, 400, "json_too_deep")
            assert f"deeper than {DEFAULT_MAX_DEPTH} levels" in problem["detail"]
        # a contract sent as JSON text is parsed as safely
        text = dataset_body(ops.agency, schema=nested_array(DEEP))
        assert_problem(await http.post("/v1/datasets", json=text), 422, "invalid_request")


async def test_a_contract_at_the_depth_limit_works_and_one_past_it_is_refused(
    hub: Hub, ops: Caller
) -> None:
    # the body adds one level: {"schema": <contract>}; each record within a record adds three
    fits = (DEFAULT_MAX_DEPTH - 2) // 3
    async with hub.http(ops) as http:
        body = dataset_body(ops.agency, schema=nested_contract(ops.agency, fits))
        created = await http.post("/v1/datasets", json=body)
        assert created.status_code == 201, created.text
        value: Any = 7
        for _ in range(fits):
            value = {"inner": value}
        published = await http.post(f"/v1/datasets/{created.json()['id']}/events", json=[value])
        assert published.status_code == 201, published.text

        too_deep = dataset_body(ops.agency, schema=nested_contract(ops.agency, fits + 1))
        assert_problem(await http.post("/v1/datasets", json=too_deep), 400, "json_too_deep")
        # as JSON text it reaches the registry, whose limit is the same: 42201 relayed as 422
        as_text = {**too_deep, "schema": json.dumps(too_deep["schema"])}
        response = await http.post("/v1/datasets", json=as_text)
        assert 400 <= response.status_code < 500, response.text
        assert "deeper than" in response.text


async def test_hostile_publish_envelopes_are_refused_and_nothing_is_written(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    before = await end_offsets(kafka_bootstrap, dataset.topic)
    good = json.dumps(reading(1))
    bodies = {
        "key nested 300 deep": f'[{good}, {{"value": {good}, "key": {nested_array(300)}}}]',
        "key beyond 64 bits": f'[{{"value": {good}, "key": {2**64 - 1}}}]',
        "value nested 1,000 deep": f'[{{"value": {{"station": {nested_array(1_000)}}}}}]',
    }
    for name, body in bodies.items():
        response = await post(hub, dataset.owner, dataset.path, body.encode())
        problem = assert_problem(response, 422, "validation_failed")
        assert problem["errors"], name
    for name, body in {
        "nested 10,000 deep": nested_array(DEEP),
        "over 4,300 digits": f'[{{"value": {good}, "key": {OVER_4300_DIGITS}}}]',
    }.items():
        response = await post(hub, dataset.owner, dataset.path, body.encode())
        assert_problem(response, 400, "invalid_body")
        assert name
    assert await end_offsets(kafka_bootstrap, dataset.topic) == before
