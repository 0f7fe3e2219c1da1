"""rest-source end to end: an agency's JSON API served by the test → a connect worker → Kafka.

One test per paging style, each with an auth type the API insists on: pages with HTTP Basic and a
watermark (a second cycle asks only for what changed), offsets with a bearer token and a 503 that
is retried, cursors with OAuth2 client credentials whose token is revoked mid-cycle, and Link
headers with items that land in the DLQ. Wrong credentials fail the connector with the reason. An
item the API shows only after a cycle, stamped with exactly that cycle's watermark, is still sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.core.avro.codec import compile_contract, decode
from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import PERSON, Connect, Dataset, read_topic, wait_for_state

BASIC = ("agency-user", "agency-password")
BEARER = "static-agency-token"
CLIENT = ("ndxp-connector", "client-secret")
START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def stamp(seconds: int) -> str:
    return f"{START + timedelta(seconds=seconds):%Y-%m-%dT%H:%M:%SZ}"


def person(i: int, name: str | None = None, updated: int | None = None) -> dict[str, Any]:
    return {"id": i, "name": name or f"Người {i}", "age": i % 90, "updated_at": stamp(updated or i)}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Api:
    """The agency's API: what it serves, whom it lets in, and what it was asked."""

    auth: str
    items: list[Any]  # replaced whole, never mutated: the server thread reads it
    requests: list[dict[str, str]] = field(default_factory=list)  # query of each accepted GET
    refused: int = 0
    fail_once: dict[str, str] = field(default_factory=dict)  # param=value → answered 503 once
    tokens: set[str] = field(default_factory=set)
    token_forms: list[dict[str, list[str]]] = field(default_factory=list)
    revoke_after: int | None = None  # accepted requests after which every token is revoked

    def allows(self, authorization: str | None) -> bool:
        if self.auth == "basic":
            return authorization == basic(*BASIC)
        if self.auth == "bearer":
            return authorization == f"Bearer {BEARER}"
        if self.auth == "oauth2":
            return (authorization or "").removeprefix("Bearer ") in self.tokens
        return True


def create_api(api: Api) -> FastAPI:
    app = FastAPI()

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        api.token_forms.append(parse_qs((await request.body()).decode()))
        if request.headers.get("authorization") != basic(*CLIENT):
            return JSONResponse({"error": "invalid_client"}, 401)
        issued = uuid.uuid4().hex
        api.tokens.add(issued)
        return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 3600})

    @app.get("/people/{style}")
    async def people(style: str, request: Request) -> JSONResponse:
        if not api.allows(request.headers.get("authorization")):
            api.refused += 1
            return JSONResponse({"detail": "who are you?"}, 401)
        query = dict(request.query_params)
        api.requests.append(query)
        if len(api.requests) == api.revoke_after:
            api.tokens.clear()
        for param, value in list(api.fail_once.items()):
            if query.get(param) == value:
                del api.fail_once[param]
                return JSONResponse({"detail": "overloaded"}, 503)
        since = query.get("updated_since", "")
        items = [i for i in api.items if not isinstance(i, dict) or i["updated_at"] >= since]
        return PAGING[style](items, query)

    return app


def by_page(items: list[Any], query: dict[str, str]) -> JSONResponse:
    page, size = int(query["page"]), int(query["size"])
    return JSONResponse({"items": items[(page - 1) * size : page * size]})


def by_offset(items: list[Any], query: dict[str, str]) -> JSONResponse:
    start, limit = int(query["offset"]), int(query["limit"])
    return JSONResponse(items[start : start + limit])


def by_cursor(items: list[Any], query: dict[str, str]) -> JSONResponse:
    start = int(query.get("cursor", "c0")[1:])
    following = f"c{start + 6}" if start + 6 < len(items) else None
    return JSONResponse({"data": items[start : start + 6], "meta": {"next_cursor": following}})


def by_link(items: list[Any], query: dict[str, str]) -> JSONResponse:
    page = int(query.get("p", "1"))
    links = [f'</people/link?p={(len(items) + 3) // 4}>; rel="last"']
    if page * 4 < len(items):
        links.insert(0, f'<link?p={page + 1}>; rel="next"')  # relative to the page's URL
    return JSONResponse(items[(page - 1) * 4 : page * 4], headers={"Link": ", ".join(links)})


PAGING = {
    "page": by_page,
    "offset": by_offset,
    "cursor": by_cursor,
    "link": by_link,
    "all": lambda items, _: JSONResponse(items),
}


def rest_config(dataset: Dataset, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "rest-source",
        "dataset": dataset.ref,
        "errors.tolerance": "all",
        "url": url,
        "id_field": "id",
        "mapping": {"id": "id", "name": "name", "age": "age"},
        "poll_interval_seconds": 3600,  # one cycle, unless a test wants more
        **extra,
    }


async def start_connector(http: httpx.AsyncClient, name: str, config: dict[str, Any]) -> None:
    response = await http.post("/connectors", json={"name": name, "config": config})
    assert response.status_code == 201, response.text


async def wait_for_offset(http: httpx.AsyncClient, name: str, offset: dict[str, Any]) -> None:
    expected = {"offsets": [{"partition": {"connector": name}, "offset": offset}]}
    async with asyncio.timeout(30):
        while (await http.get(f"/connectors/{name}/offsets")).json() != expected:  # noqa: ASYNC110 - polls the worker's HTTP API
            await asyncio.sleep(0.1)


def values(dataset: Dataset, records: list[Any]) -> list[dict[str, Any]]:
    contract = compile_contract(dataset.schema_id, PERSON)
    return [decode(r.value, contract) for r in records]


def expected(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": i["id"], "name": i["name"], "age": i["age"]} for i in items]


async def test_pages_with_basic_auth_and_a_watermark(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    first = [person(i) for i in range(1, 31)]
    api = Api("basic", first)
    name = f"rest-page-{dataset.agency}"
    config = rest_config(
        dataset,
        "",
        params={"agency": dataset.agency},
        auth={"type": "basic", "username": BASIC[0], "password": BASIC[1]},
        records_path="items",
        paging={"type": "page", "size": 7},
        watermark={"field": "updated_at", "param": "updated_since"},
        poll_interval_seconds=0.2,
    )
    with serve_app(create_api(api)) as server:
        async with connect.serve() as http:
            await start_connector(http, name, {**config, "url": f"{server.url}/people/page"})
            await wait_for_offset(http, name, {"watermark": stamp(30), "at": [30]})
            cycle_one = await read_topic(kafka_bootstrap, dataset.topic, 30)
            # Item 3 is updated and 31-33 are new; the API's >= also gives item 30 again.
            updated = person(3, "Người 3 (đổi tên)", updated=100)
            new = [person(i) for i in range(31, 34)]
            api.items = [i for i in first if i["id"] != 3] + new + [updated]
            await wait_for_offset(http, name, {"watermark": stamp(100), "at": [3]})
            both = await read_topic(kafka_bootstrap, dataset.topic, 34)

    assert values(dataset, cycle_one) == expected(first)
    assert values(dataset, both[30:]) == expected([*new, updated])
    assert len({decode_headers(r.headers)[EVENT_ID] for r in both}) == 34
    # The first cycle asked for everything, page by page; every later one only for changes.
    assert api.requests[:5] == [
        {"agency": dataset.agency, "page": str(page), "size": "7"} for page in range(1, 6)
    ]
    later = [request.get("updated_since") for request in api.requests[5:]]
    assert stamp(30) in later
    assert set(later) <= {stamp(30), stamp(100)}
    assert api.refused == 0


async def test_an_item_at_the_watermark_shown_after_the_cycle_is_sent_and_nothing_twice(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    # Items 10 and 11 share the last second of cycle 1; item 12, stamped with that same second
    # (its transaction committed late), and item 13 appear only after the cycle ended.
    first = [person(i) for i in range(1, 11)] + [person(11, updated=10)]
    late = [person(12, updated=10), person(13, updated=11)]
    api = Api("none", first)
    name = f"rest-late-{dataset.agency}"
    config = rest_config(
        dataset,
        "",
        records_path="items",
        paging={"type": "page", "size": 4},
        watermark={"field": "updated_at", "param": "updated_since"},
        poll_interval_seconds=0.2,
    )
    with serve_app(create_api(api)) as server:
        async with connect.serve() as http:
            await start_connector(http, name, {**config, "url": f"{server.url}/people/page"})
            await wait_for_offset(http, name, {"watermark": stamp(10), "at": [10, 11]})
            api.items = first + late
            await wait_for_offset(http, name, {"watermark": stamp(11), "at": [13]})
            # two more cycles after it asked for what changed since 11: the first one's
            # records, had it any, are written before the second one asks
            await wait_for_requests(api, {"updated_since": stamp(11)}, 2)
            records = await read_topic(kafka_bootstrap, dataset.topic, 13)

    assert values(dataset, records) == expected(first + late)
    assert len({decode_headers(r.headers)[EVENT_ID] for r in records}) == 13
    # Cycle 2 was given 10 and 11 again by the API's >=, and skipped them.
    assert {"updated_since": stamp(10), "page": "1", "size": "4"} in api.requests


async def wait_for_requests(api: Api, query: dict[str, str], count: int) -> None:
    def asked() -> int:
        return sum(1 for r in api.requests if query.items() <= r.items())

    async with asyncio.timeout(30):
        while asked() < count:  # noqa: ASYNC110 - the API is served from another thread
            await asyncio.sleep(0.05)


async def test_offsets_with_a_bearer_token_and_a_503_retried(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    items = [person(i) for i in range(1, 26)]
    api = Api("bearer", items, fail_once={"offset": "10"})
    name = f"rest-offset-{dataset.agency}"
    config = rest_config(
        dataset,
        "",
        auth={"type": "bearer", "token": BEARER},
        paging={"type": "offset", "limit": 10},
        key_field="id",
    )
    with serve_app(create_api(api)) as server:
        async with connect.serve() as http:
            await start_connector(http, name, {**config, "url": f"{server.url}/people/offset"})
            await wait_for_offset(http, name, {"watermark": None})
            records = await read_topic(kafka_bootstrap, dataset.topic, 25)
            status = (await http.get(f"/connectors/{name}/status")).json()

    assert values(dataset, records) == expected(items)
    assert [r.key for r in records] == [str(i).encode() for i in range(1, 26)]
    # The page that failed is asked for again, and only it: the pages before it are committed.
    assert [r["offset"] for r in api.requests] == ["0", "10", "10", "20"]
    assert status["connector"]["state"] == "RUNNING"


async def test_cursors_with_oauth2_client_credentials(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    items = [person(i) for i in range(1, 21)]
    api = Api("oauth2", items, revoke_after=2)  # the API revokes the token after two pages
    name = f"rest-cursor-{dataset.agency}"
    with serve_app(create_api(api)) as server:
        config = rest_config(
            dataset,
            f"{server.url}/people/cursor",
            auth={
                "type": "oauth2",
                "token_url": f"{server.url}/token",
                "client_id": CLIENT[0],
                "client_secret": CLIENT[1],
                "scope": "people.read",
            },
            records_path="data",
            paging={"type": "cursor", "path": "meta.next_cursor"},
        )
        async with connect.serve() as http:
            await start_connector(http, name, config)
            await wait_for_offset(http, name, {"watermark": None})
            records = await read_topic(kafka_bootstrap, dataset.topic, 20)

    assert values(dataset, records) == expected(items)
    assert [r.get("cursor") for r in api.requests] == [None, "c6", "c12", "c18"]
    # One token for the first two pages, one more after the 401 of the third.
    assert api.token_forms == [{"grant_type": ["client_credentials"], "scope": ["people.read"]}] * 2
    assert api.refused == 1


async def test_link_headers_and_bad_items_to_the_dlq(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    good = [person(i) for i in range(1, 16) if i != 5]
    no_age = {k: v for k, v in person(5).items() if k != "age"}
    items: list[Any] = [*good[:4], no_age, *good[4:8], "not an item", *good[8:]]
    api = Api("none", items)
    name = f"rest-link-{dataset.agency}"
    with serve_app(create_api(api)) as server:
        async with connect.serve() as http:
            config = rest_config(dataset, f"{server.url}/people/link")
            await start_connector(http, name, {**config, "paging": {"type": "link"}})
            await wait_for_offset(http, name, {"watermark": None})
            records = await read_topic(kafka_bootstrap, dataset.topic, len(good))
            dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 2)

    assert values(dataset, records) == expected(good)
    assert [r.get("p") for r in api.requests] == [None, "2", "3", "4"]
    reasons = [decode_headers(r.headers) for r in dead]
    assert reasons[0]["ndxp-error"] == "the item has no field(s) ['age']"
    assert json.loads(reasons[0]["ndxp-source-position"]) == {"id": 5}
    assert reasons[1]["ndxp-error"] == 'the item is not a JSON object: "not an item"'
    assert all(r["ndxp-connector"] == name for r in reasons)


async def test_wrong_credentials_fail_the_connector_with_the_api_s_answer(
    connect: Connect, dataset: Dataset
) -> None:
    api = Api("basic", [person(1)])
    name = f"rest-refused-{dataset.agency}"
    with serve_app(create_api(api)) as server:
        config = rest_config(
            dataset,
            f"{server.url}/people/all",
            auth={"type": "basic", "username": BASIC[0], "password": "guess"},
        )
        async with connect.serve() as http:
            await start_connector(http, name, config)
            status = await wait_for_state(http, name, "FAILED")

    assert 'the API answered 401: {"detail":"who are you?"}' in status["connector"]["trace"]
    assert "guess" not in status["connector"]["trace"]
    assert api.requests == []
    assert api.refused == 2  # the worker's retry budget in these tests
