"""rest-source without a network: Link headers, dotted paths, items to records (with the
watermark filter), the OAuth2 token cache, and the offsets a cycle walks through (over httpx's mock
transport). The watermark's order and its offsets over several cycles: test_rest_watermark.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.connectors.plugin import Batch
from services.connectors.plugins.rest import ApiError, RestSource, client_credentials, dig
from services.connectors.plugins.rest_config import OAuth2Auth, RestSourceConfig
from services.connectors.plugins.rest_paging import Cycle, next_link, parse_links


def test_link_header_parsing() -> None:
    header = (
        '<https://api.example.vn/people?page=3>; rel="next last"; title="a, b; c", '
        "</people?page=1>; REL=first,<https://api.example.vn/people?page=1> ; rel=prev"
    )
    assert parse_links(header) == [
        ("https://api.example.vn/people?page=3", {"rel": "next last", "title": "a, b; c"}),
        ("/people?page=1", {"rel": "first"}),
        ("https://api.example.vn/people?page=1", {"rel": "prev"}),
    ]
    assert parse_links('<x>; title="say \\"hi\\""; title=second') == [("x", {"title": 'say "hi"'})]
    assert parse_links("") == []


def test_next_link_is_found_in_any_header_and_made_absolute() -> None:
    base = "https://api.example.vn/v1/people?page=1"
    assert next_link(['</v1/people?page=1>; rel="prev"', "<?page=2>; rel=next"], base) == (
        "https://api.example.vn/v1/people?page=2"
    )
    assert next_link(['<page/4>; rel="Next"'], base) == "https://api.example.vn/v1/page/4"
    assert next_link(['<https://api.example.vn/v1/people?page=9>; rel="last"'], base) is None
    assert next_link([], base) is None


def test_dotted_paths() -> None:
    body = {"data": {"items": [{"id": 1}, {"id": 2}], "next": None}, "a.b": 3}
    assert dig(body, "data.items.1.id") == 2
    assert dig(body, "data.next") is None
    assert dig(body, "") is body
    for missing in ("data.cursor", "data.items.2", "data.items.x", "a.b", "data.items.0.id.x"):
        with pytest.raises(KeyError):
            dig(body, missing)


def source(url: str = "https://api.example.vn/people", **config: Any) -> RestSource:
    settings = RestSourceConfig.model_validate({"url": url, **config})
    return RestSource("people", settings)


def test_items_become_records_and_old_ones_are_skipped() -> None:
    rest = source(
        id_field="person.id",
        key_field="person.id",
        watermark={"field": "updated_at", "param": "updated_since"},
        mapping={"person.id": "id", "person.name": "name", "age": "age"},
    )
    since = "2024-05-01T10:00:00Z"
    cycle = Cycle(since, at=(8,))
    item = {"person": {"id": 7, "name": "An"}, "age": 30, "updated_at": "2024-05-01T11:00:00Z"}
    record, mark, identity = rest.record(item, cycle)
    assert record is not None
    assert record.value == {"id": 7, "name": "An", "age": 30}
    assert record.key == "7"
    assert record.position == {"id": 7, "watermark": "2024-05-01T11:00:00Z"}
    assert record.error is None
    assert mark == "2024-05-01T11:00:00Z"
    assert identity == 7

    # At exactly the watermark: sent unless an earlier cycle sent that item (8) at that value.
    record, mark, identity = rest.record({**item, "updated_at": since}, cycle)
    assert record is not None
    assert record.position == {"id": 7, "watermark": since}
    assert (mark, identity) == (since, 7)
    at_since = {**item, "person": {"id": 8, "name": "Bình"}, "updated_at": since}
    assert rest.record(at_since, cycle) == (None, since, 8)
    same_instant = {**at_since, "updated_at": "2024-05-01T17:00:00+07:00"}
    assert rest.record(same_instant, cycle) == (None, "2024-05-01T17:00:00+07:00", 8)
    before = {**at_since, "updated_at": "2024-05-01T09:59:59Z"}
    assert rest.record(before, cycle) == (None, None, None)

    record, _, _ = rest.record({**item, "person": {"id": 8}}, cycle)
    assert record is not None
    assert record.value is None
    assert record.error == "the item has no field(s) ['person.name']"
    assert record.position == {"id": 8, "watermark": "2024-05-01T11:00:00Z"}

    record, _, _ = rest.record({**item, "updated_at": None}, cycle)
    assert record is not None
    assert record.error == "the item has no field(s) ['updated_at']"

    record, mark, _ = rest.record(["not", "an", "object"], cycle)
    assert record is not None
    assert record.error == 'the item is not a JSON object: ["not","an","object"]'
    assert record.value is None
    assert set(record.position) == {"digest"}
    assert mark is None


def test_without_an_id_the_position_is_a_digest_of_the_item() -> None:
    rest = source()
    first, _, identity = rest.record({"id": 1, "name": "An", "age": 3}, Cycle())
    again, _, _ = rest.record({"age": 3, "name": "An", "id": 1}, Cycle())
    other, _, _ = rest.record({"id": 1, "name": "An", "age": 4}, Cycle())
    assert first is not None
    assert again is not None
    assert other is not None
    assert first.position == again.position != other.position
    assert first.position == {"digest": identity}  # what ``at`` holds without an id_field
    assert first.value == {"id": 1, "name": "An", "age": 3}


def test_config_is_a_checked_discriminated_union_with_masked_secrets() -> None:
    config = RestSourceConfig.model_validate(
        {
            "url": "https://api.example.vn/people",
            "auth": {"type": "basic", "username": "u", "password": "hunter2"},
            "paging": {"type": "cursor", "path": "meta.next"},
        }
    )
    assert "hunter2" not in repr(config)
    assert config.paging.type == "cursor"
    bad = [
        {"auth": {"type": "basic", "username": "u"}},
        {"auth": {"type": "kerberos"}},
        {"paging": {"type": "page", "size": 0}},
        {"paging": {"type": "offset", "limt": 10}},
        {"url": "ftp://api.example.vn/people"},
        {"auth": {"type": "oauth2", "token_url": "/token", "client_id": "c", "client_secret": "s"}},
        {"record_path": "data"},
    ]
    for extra in bad:
        with pytest.raises(ValidationError):
            RestSourceConfig.model_validate({"url": "https://api.example.vn/people", **extra})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_oauth2_token_is_cached_until_shortly_before_expiry_and_renewed_on_a_401() -> None:
    clock = Clock()
    issued: list[str] = []
    valid: set[str] = set()
    seen: list[str | None] = []
    refusing = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refusing
        if request.url.path == "/token":
            assert request.headers["authorization"] == "Basic Y2xpZW50JTJGMTpzJTNBZWNyZXQ="
            form = dict(httpx.QueryParams(request.content.decode()))
            assert form == {"grant_type": "client_credentials", "scope": "people.read"}
            assert request.extensions["timeout"]["read"] == 5
            issued.append(token := f"t{len(issued)}")
            valid.add(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": 300})
        auth = request.headers.get("authorization")
        seen.append(auth)
        ok = not refusing and auth is not None and auth.removeprefix("Bearer ") in valid
        return httpx.Response(200 if ok else 401, json=[])

    config = OAuth2Auth(
        type="oauth2",
        token_url="https://idp.example.vn/token",
        client_id="client/1",
        client_secret="s:ecret",
        scope="people.read",
    )
    auth = client_credentials(config, timeout=5, clock=clock)
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(handler)) as http:
        for _ in range(3):
            assert (await http.get("https://api.example.vn/people")).status_code == 200
        assert issued == ["t0"]
        clock.now += 300 - 29  # within the margin before expiry: renewed before use
        assert (await http.get("https://api.example.vn/people")).status_code == 200
        assert issued == ["t0", "t1"]
        valid.clear()  # the server revokes every token: one new token, one retry
        assert (await http.get("https://api.example.vn/people")).status_code == 200
        assert issued == ["t0", "t1", "t2"]
        refusing = True
        response = await http.get("https://api.example.vn/people")
        assert response.status_code == 401  # refused with a new token too: the caller sees it
        assert issued == ["t0", "t1", "t2", "t3"]
    assert seen[:4] == ["Bearer t0", "Bearer t0", "Bearer t0", "Bearer t1"]


def stamp(second: int) -> str:
    return f"2024-05-01T10:00:{second:02d}Z"


async def run_cycle(
    rest: RestSource, handler: Callable[[httpx.Request], httpx.Response], offset: Any
) -> list[Batch]:
    """Poll until the cycle ends, as the worker would, committing each batch's offset."""
    rest.transport = httpx.MockTransport(handler)
    await rest.start()
    batches = []
    try:
        while True:
            batch = await rest.poll(offset)
            batches.append(batch)
            offset = batch.offset
            if not batch.more:
                return batches
    finally:
        await rest.stop()


async def test_offsets_walk_the_pages_and_a_cycle_resumes_at_its_next_page() -> None:
    items = [{"id": i, "updated_at": stamp(i)} for i in range(1, 6)]
    requests: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        requests.append(params)
        start, limit = int(params["offset"]), int(params["limit"])
        since = params.get("since", "")
        chosen = [i for i in items if i["updated_at"] >= since]
        return httpx.Response(200, json={"data": chosen[start : start + limit]})

    def new_source() -> RestSource:
        return source(
            "https://api.example.vn/people?format=json&kind=everyone",
            records_path="data",
            id_field="id",
            params={"kind": "person"},
            paging={"type": "offset", "limit": 2},
            watermark={"field": "updated_at", "param": "since"},
        )

    batches = await run_cycle(new_source(), handler, None)
    assert [[r.position["id"] for r in b.records] for b in batches] == [[1, 2], [3, 4], [5]]
    assert [b.offset for b in batches] == [
        {"watermark": None, "at": [], "next": 2, "max_seen": stamp(2), "max_seen_at": [2]},
        {"watermark": None, "at": [], "next": 4, "max_seen": stamp(4), "max_seen_at": [4]},
        {"watermark": stamp(5), "at": [5]},
    ]
    assert requests == [
        {"format": "json", "kind": "person", "offset": "0", "limit": "2"},
        {"format": "json", "kind": "person", "offset": "2", "limit": "2"},
        {"format": "json", "kind": "person", "offset": "4", "limit": "2"},
    ]

    # A worker that crashed after the first page resumes at the second, with the same query.
    requests.clear()
    batches = await run_cycle(new_source(), handler, json.loads(json.dumps(batches[0].offset)))
    assert [r.position["id"] for b in batches for r in b.records] == [3, 4, 5]
    assert requests[0] == {"format": "json", "kind": "person", "offset": "2", "limit": "2"}

    # The next cycle asks for what changed since; the API's >= repeats item 5, which is skipped.
    requests.clear()
    items.append({"id": 6, "updated_at": stamp(6)})
    batches = await run_cycle(new_source(), handler, batches[-1].offset)
    assert [r.position["id"] for b in batches for r in b.records] == [6]
    since = stamp(5)
    assert requests == [  # a full page (5 and 6), then an empty one
        {"format": "json", "kind": "person", "since": since, "offset": "0", "limit": "2"},
        {"format": "json", "kind": "person", "since": since, "offset": "2", "limit": "2"},
    ]
    assert batches[-1].offset == {"watermark": stamp(6), "at": [6]}


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, "down for\n maintenance", "/people: the API answered 503: down for maintenance"),
        (429, "slow down", "/people: the API answered 429: slow down"),
        (
            403,
            '{"detail": "key expired"}',
            '/people: the API answered 403: {"detail": "key expired"}',
        ),
        (200, "<html>not json</html>", "is not JSON: <html>not json</html>"),
        (200, '{"items": []}', "has no 'data'"),
        (200, '{"data": {"id": 1}}', "data of the API's answer is not a list"),
    ],
)
async def test_a_failing_api_raises_with_the_status_and_an_excerpt(
    status: int, body: str, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body)

    rest = source(records_path="data", params={"api_key": "s3cret"})
    with pytest.raises(ApiError, match=re.escape(message)) as raised:
        await run_cycle(rest, handler, None)
    assert "s3cret" not in str(raised.value)  # query parameters may be API keys
