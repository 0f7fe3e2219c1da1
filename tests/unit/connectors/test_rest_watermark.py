"""rest-source's watermark without a network: how its values order, and how a cycle's offset
remembers the items at exactly the latest value (``at``), over several cycles of an API that
filters with ``>=`` (httpx's mock transport): an item shown late at that value is sent, nothing
already sent is sent again, an offset from before ``at`` still works, a crash mid-cycle resumes
exactly, and ``at`` stays bounded."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.connectors.plugin import Batch
from services.connectors.plugins import rest_paging
from services.connectors.plugins.rest import RestSource
from services.connectors.plugins.rest_paging import Latest, is_after
from tests.unit.connectors.test_rest import run_cycle, source, stamp


@pytest.mark.parametrize(
    ("value", "watermark", "after"),
    [
        ("2024-05-01T10:00:00Z", "2024-05-01T09:00:00Z", True),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", False),  # >= APIs give it again
        ("2024-05-01T10:00:00+07:00", "2024-05-01T04:00:00Z", False),  # the same instant
        ("2024-05-01T10:00:00.5+07:00", "2024-05-01T03:00:00Z", True),
        ("2024-05-02", "2024-05-01T23:59:59", True),
        (10, 9, True),
        ("10", "9", True),  # numbers as text are compared as numbers, not as text
        (9.5, 10, False),
        ("b", "a", True),
        ("2024-05-01T10:00:00Z", None, True),  # the very first cycle: everything
        (None, "2024-05-01T10:00:00Z", False),
    ],
)
def test_watermark_order(value: Any, watermark: Any, after: bool) -> None:
    assert is_after(value, watermark) is after


def test_the_latest_value_keeps_the_api_s_own_format_and_the_items_at_it() -> None:
    latest = Latest("2024-05-01T02:00:00Z", [1])
    latest.add("2024-05-01T09:00:00+07:00", 2)  # the same instant
    assert (latest.value, latest.bounded("people")) == ("2024-05-01T02:00:00Z", [1, 2])
    latest.add("2024-05-01T10:00:00+07:00", {"agency": "a", "no": 3})  # later: at it only
    latest.add("2024-05-01T02:30:00Z", 4)  # before
    latest.add(None, 5)  # no watermark value: dead-lettered, never placed
    latest.add("2024-05-01T03:00:00Z", {"no": 3, "agency": "a"})  # the same id, keys reordered
    assert latest.value == "2024-05-01T10:00:00+07:00"
    assert latest.bounded("people") == [{"agency": "a", "no": 3}]


class SinceApi:
    """An API that filters with ``since`` inclusively and pages by offset, two items a page."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.requests.append(params)
        start, since = int(params["offset"]), params.get("since", "")
        chosen = [i for i in self.items if i["updated_at"] >= since]
        return httpx.Response(200, json=chosen[start : start + 2])


def watermarked(**config: Any) -> RestSource:
    return source(
        paging={"type": "offset", "limit": 2},
        watermark={"field": "updated_at", "param": "since"},
        **config,
    )


def sent(batches: list[Batch]) -> list[Any]:
    return [r.position.get("id", r.position.get("digest")) for b in batches for r in b.records]


async def test_an_item_at_exactly_the_watermark_shown_after_the_cycle_is_still_sent() -> None:
    api = SinceApi([{"id": i, "updated_at": stamp(t)} for i, t in [(1, 4), (2, 5), (3, 5)]])
    first = await run_cycle(watermarked(id_field="id"), api, None)
    assert sent(first) == [1, 2, 3]
    assert first[-1].offset == {"watermark": stamp(5), "at": [2, 3]}

    # A late commit in the watermark's second (item 4): sent, and remembered with 2 and 3.
    api.items = [*api.items, {"id": 4, "updated_at": stamp(5)}]
    second = await run_cycle(watermarked(id_field="id"), api, first[-1].offset)
    assert sent(second) == [4]
    assert second[-1].offset == {"watermark": stamp(5), "at": [2, 3, 4]}
    # One more in that second (6) and one after it (5): both sent, and the watermark moves on.
    api.items = [*api.items, {"id": 5, "updated_at": stamp(6)}, {"id": 6, "updated_at": stamp(5)}]
    third = await run_cycle(watermarked(id_field="id"), api, second[-1].offset)
    assert sent(third) == [5, 6]
    assert third[-1].offset == {"watermark": stamp(6), "at": [5]}
    # The same version of an item keeps its event id (its position); an update gets a new one.
    positions = [r.position for b in first + second + third for r in b.records]
    assert positions[3:] == [
        {"id": 4, "watermark": stamp(5)},
        {"id": 5, "watermark": stamp(6)},
        {"id": 6, "watermark": stamp(5)},
    ]

    # Item 1 updated in the second of 5: sent (a new event id), while 5, given again, is not.
    api.items = [{**api.items[0], "updated_at": stamp(6)}, *api.items[1:]]
    fourth = await run_cycle(watermarked(id_field="id"), api, third[-1].offset)
    assert [r.position for b in fourth for r in b.records] == [{"id": 1, "watermark": stamp(6)}]
    assert fourth[-1].offset == {"watermark": stamp(6), "at": [5, 1]}
    nothing_new = await run_cycle(watermarked(id_field="id"), api, fourth[-1].offset)
    assert sent(nothing_new) == []
    assert nothing_new[-1].offset == fourth[-1].offset


async def test_without_an_id_field_the_offset_holds_the_digests_at_the_watermark() -> None:
    api = SinceApi([{"name": "An", "updated_at": stamp(5)}])
    first = await run_cycle(watermarked(), api, None)
    [digest] = sent(first)
    assert first[-1].offset == {"watermark": stamp(5), "at": [digest]}
    api.items = [*api.items, {"name": "Bình", "updated_at": stamp(5)}]
    second = await run_cycle(watermarked(), api, first[-1].offset)
    [other] = sent(second)
    assert other != digest
    assert second[-1].offset == {"watermark": stamp(5), "at": [digest, other]}


async def test_an_offset_from_before_at_sends_the_items_at_its_watermark_once_more() -> None:
    items = [{"id": i, "updated_at": stamp(t)} for i, t in [(1, 4), (2, 5), (3, 5), (4, 6)]]
    api = SinceApi(items)
    # Ended by an older version: the items at 5 were sent, but which is not known.
    batches = await run_cycle(watermarked(id_field="id"), api, {"watermark": stamp(5)})
    assert [r.position for b in batches for r in b.records] == [
        {"id": 2, "watermark": stamp(5)},  # the same positions (event ids) as when first sent
        {"id": 3, "watermark": stamp(5)},
        {"id": 4, "watermark": stamp(6)},
    ]
    assert batches[-1].offset == {"watermark": stamp(6), "at": [4]}

    # Mid-cycle: the rest of the cycle is read as before, and the next one is exact.
    older = {"watermark": stamp(5), "next": 2, "max_seen": stamp(5)}
    batches = await run_cycle(watermarked(id_field="id"), api, older)
    assert sent(batches) == [4]
    assert batches[-1].offset == {"watermark": stamp(6), "at": [4]}


async def test_a_cycle_resumed_mid_way_sends_what_an_uninterrupted_one_does() -> None:
    stamps = [(1, 5), (2, 5), (3, 6), (4, 5), (5, 6), (6, 7), (7, 6)]
    api = SinceApi([{"id": i, "updated_at": stamp(t)} for i, t in stamps])
    start = {"watermark": stamp(5), "at": [1]}
    whole = await run_cycle(watermarked(id_field="id"), api, start)
    assert sent(whole) == [2, 3, 4, 5, 6, 7]
    assert whole[1].offset == {
        "watermark": stamp(5),
        "at": [1],
        "next": 4,
        "max_seen": stamp(6),
        "max_seen_at": [3],
    }
    assert whole[-1].offset == {"watermark": stamp(7), "at": [6]}
    for crashed in whole[:-1]:  # after any page: the pages after it, and the same offset at last
        offset = json.loads(json.dumps(crashed.offset))
        resumed = await run_cycle(watermarked(id_field="id"), api, offset)
        assert [b.records for b in resumed] == [b.records for b in whole[-len(resumed) :]]
        assert resumed[-1].offset == whole[-1].offset


@pytest.mark.parametrize(("bound", "value"), [("MAX_AT", 3), ("MAX_AT_BYTES", 6)])  # "1" + ","
async def test_at_keeps_only_the_newest_items_past_its_bound_and_says_why(
    bound: str, value: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(rest_paging, bound, value)
    api = SinceApi([{"id": i, "updated_at": stamp(5)} for i in range(1, 6)])
    first = await run_cycle(watermarked(id_field="id"), api, None)
    assert sent(first) == [1, 2, 3, 4, 5]
    assert first[-1].offset == {"watermark": stamp(5), "at": [3, 4, 5]}
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings[-1] == (
        "rest-source people: more than 3 items share the watermark value 2024-05-01T10:00:05Z, "
        "more than its offset keeps (a bounded offset): if the API gives the older ones again "
        "they are sent again, with the same event ids"
    )
    # The forgotten ones are repeated (same positions, so the same event ids), never lost.
    second = await run_cycle(watermarked(id_field="id"), api, first[-1].offset)
    assert [r.position for b in second for r in b.records] == [
        {"id": i, "watermark": stamp(5)} for i in (1, 2)
    ]
