"""soap-source without a network: its config, loading a WSDL file, turning responses into records.

Responses are what ``zeep.helpers.serialize_object`` gives (dicts, lists, ``Decimal``,
``datetime``, ``date``, ``bytes``); the records are checked by encoding them with the codec, as the
worker does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.connectors.plugin import Batch, Offset
from services.connectors.plugins import rest_paging
from services.connectors.plugins.soap import (
    SoapFailed,
    SoapSource,
    SoapSourceConfig,
    digest,
    plain,
)
from services.core.avro.codec import compile_contract, decode, encode
from tests.integration.connect.soap_service import WSDL

ICT = timezone(timedelta(hours=7))
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=ICT)


def source(**config: Any) -> SoapSource:
    settings = {"wsdl": "people.wsdl", "operation": "GetPeople"} | config
    return SoapSource("soap-test", SoapSourceConfig.model_validate(settings))


def answering(plugin: SoapSource, *responses: Any) -> list[dict[str, Any]]:
    """Make ``plugin`` call a stand-in for the operation; returns the arguments it is given."""
    asked: list[dict[str, Any]] = []
    pending = list(responses)

    async def operation(**arguments: Any) -> Any:
        asked.append(arguments)
        return pending.pop(0)

    plugin.operation = operation
    return asked


def people(*items: dict[str, Any]) -> dict[str, Any]:
    return {"total": len(items), "people": {"person": list(items)}}


def item(i: int, minutes: int, **changes: Any) -> dict[str, Any]:
    values = {"id": i, "name": f"Người {i}", "age": 20 + i}
    return values | {"updated": T0 + timedelta(minutes=minutes)} | changes


def test_config_forbids_unknown_keys_and_masks_the_password() -> None:
    with pytest.raises(ValidationError, match="recrods_path"):
        SoapSourceConfig.model_validate({"wsdl": "x", "operation": "Op", "recrods_path": "a"})
    with pytest.raises(ValidationError, match="argument"):
        SoapSourceConfig.model_validate(
            {"wsdl": "x", "operation": "Op", "watermark": {"field": "updated"}}
        )
    config = SoapSourceConfig.model_validate(
        {"wsdl": "x", "operation": "Op", "auth": {"username": "u", "password": "bí-mật"}}
    )
    assert "bí-mật" not in repr(config)
    assert config.auth is not None
    assert config.auth.password.get_secret_value() == "bí-mật"
    assert "records_path" in SoapSourceConfig.model_json_schema()["properties"]


async def test_a_local_wsdl_is_loaded_and_its_operation_bound(tmp_path: Path) -> None:
    wsdl = tmp_path / "people.wsdl"
    wsdl.write_text(WSDL.replace("{location}", "http://127.0.0.1:9/service"), encoding="utf-8")
    plugin = source(wsdl=str(wsdl), service="PeopleService", port="PeoplePort")
    await plugin.start()
    await plugin.stop()
    assert plugin.operation is not None

    for config, reason in [
        ({"operation": "GetPersons"}, "no operation 'GetPersons'"),
        ({"port": "Nope"}, "no service None port 'Nope'"),
        ({"wsdl": str(tmp_path / "missing.wsdl")}, "cannot load the WSDL"),
    ]:
        plugin = source(**({"wsdl": str(wsdl)} | config))
        with pytest.raises(SoapFailed, match=reason):
            await plugin.start()
        await plugin.stop()


async def test_items_at_the_records_path_become_records_of_the_mapping() -> None:
    plugin = source(
        records_path="people.person",
        id_field="id",
        key_field="id",
        mapping={"id": "id", "name": "name", "age": "age"},
    )
    answering(plugin, people(item(1, 1), item(2, 2, name=None), {"id": 3, "name": "Ba"}))
    batch = await plugin.poll(None)
    assert batch.offset is None
    assert [r.value for r in batch.records[:2]] == [
        {"id": 1, "name": "Người 1", "age": 21},
        {"id": 2, "name": None, "age": 22},  # an absent element: the contract decides
    ]
    assert [r.key for r in batch.records] == ["1", "2", "3"]
    lacking = batch.records[2]
    assert lacking.error == "the item has no field(s) ['age']"
    assert lacking.value == {"id": 3, "name": "Ba"}  # the item as received, for the DLQ
    assert lacking.position["id"] == 3


async def test_without_a_watermark_an_item_keeps_its_position_until_it_changes() -> None:
    plugin = source(records_path="people.person", id_field="id")
    first, second = item(1, 1), item(2, 2)
    answering(plugin, people(first, second), people(first, item(2, 2, age=50)))
    before = await plugin.poll(None)
    after = await plugin.poll(None)
    assert before.records[0].position == after.records[0].position
    assert before.records[1].position["id"] == after.records[1].position["id"] == 2
    assert before.records[1].position != after.records[1].position


@pytest.mark.parametrize(
    ("response", "path", "count"),
    [
        ([{"id": 1}, {"id": 2}], "", 2),
        (None, "", 0),  # an empty body
        ({"total": 0, "people": None}, "people.person", 0),  # an absent optional list
        ({"total": 1, "people": {"person": {"id": 1}}}, "people.person", 1),  # unwrapped
        ({"rows": [[{"id": 1}], [{"id": 2}, {"id": 3}]]}, "rows.1", 2),
    ],
)
async def test_records_path(response: Any, path: str, count: int) -> None:
    plugin = source(records_path=path)
    answering(plugin, response)
    assert len((await plugin.poll(None)).records) == count


async def test_a_records_path_that_leads_nowhere_fails_the_poll() -> None:
    plugin = source(records_path="people.persons")
    answering(plugin, people(item(1, 1)))
    with pytest.raises(SoapFailed, match=r"no 'people\.persons'"):
        await plugin.poll(None)


async def test_a_watermark_is_passed_on_and_what_is_not_after_it_skipped() -> None:
    plugin = source(
        records_path="people.person",
        id_field="id",
        arguments={"region": "HN", "since": "2000-01-01T00:00:00Z"},
        watermark={"field": "updated", "argument": "since"},
    )
    asked = answering(
        plugin,
        people(item(1, 1), item(2, 3), item(3, 2)),
        people(item(2, 3)),  # inclusive: the last one again
        people(item(2, 3), item(1, 4), {"id": 4, "updated": None}),
    )
    first = await plugin.poll(None)
    second = await plugin.poll(first.offset)
    third = await plugin.poll(second.offset)

    assert asked == [
        {"region": "HN", "since": "2000-01-01T00:00:00Z"},
        {"region": "HN", "since": "2025-03-01T08:03:00+07:00"},
        {"region": "HN", "since": "2025-03-01T08:03:00+07:00"},
    ]
    assert [r.value["id"] for r in first.records if r.value] == [1, 2, 3]
    assert first.offset == {"watermark": "2025-03-01T08:03:00+07:00", "at": [2]}
    assert first.records[0].position == {"id": 1, "watermark": "2025-03-01T08:01:00+07:00"}
    assert second == Batch([], first.offset)
    assert [r.value["id"] for r in third.records if r.error is None and r.value] == [1]
    assert third.records[1].error == "the item has no value for the watermark field 'updated'"
    assert third.offset == {"watermark": "2025-03-01T08:04:00+07:00", "at": [1]}


@pytest.mark.parametrize(
    ("values", "stored", "expected", "sent"),
    [
        ([5, 9, 7, 4], 6, {"watermark": 9, "at": [2]}, [2, 3]),
        ([Decimal("1.25"), Decimal("2.25")], 1.5, {"watermark": 2.25, "at": [2]}, [2]),
        (
            [date(2025, 1, 2), date(2025, 1, 1)],
            "2025-01-01",
            {"watermark": "2025-01-02", "at": [1]},
            [1, 2],  # 2 is at the watermark but not one of the items sent there
        ),
        # a time without an offset is taken as UTC: 08:30 UTC is after 08:00+07:00
        (
            [datetime(2025, 3, 1, 8, 30)],  # noqa: DTZ001 - the service gave no offset
            T0.isoformat(),
            {"watermark": "2025-03-01T08:30:00", "at": [1]},
            [1],
        ),
        # 01:00 UTC is T0: at the watermark, and not one of the items sent there; the offset
        # keeps the value as first stored
        (
            [datetime(2025, 3, 1, 1, 0, tzinfo=UTC)],
            T0.isoformat(),
            {"watermark": T0.isoformat(), "at": [0, 1]},
            [1],
        ),
    ],
)
async def test_watermark_types(
    values: list[Any], stored: Any, expected: Offset, sent: list[int]
) -> None:
    plugin = source(watermark={"field": "v", "argument": "since"}, id_field="id")
    answering(plugin, [{"id": i, "v": v} for i, v in enumerate(values, 1)])
    batch = await plugin.poll({"watermark": stored, "at": [0]})  # item 0 was sent at ``stored``
    assert batch.offset == expected
    assert [r.position["id"] for r in batch.records] == sent


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        ([5, "x"], None),  # one response, two kinds
        ([5], "2025-03-01T08:00:00+07:00"),  # the field changed kind since the offset
        ([datetime(2025, 3, 1, tzinfo=UTC)], 17),
    ],
)
async def test_a_watermark_that_cannot_be_compared_fails_the_poll(
    values: list[Any], stored: Any
) -> None:
    plugin = source(watermark={"field": "v", "argument": "since"})
    answering(plugin, [{"v": v} for v in values])
    with pytest.raises(SoapFailed, match="cannot be compared"):
        await plugin.poll(None if stored is None else {"watermark": stored})


def late(**config: Any) -> SoapSource:
    return source(
        records_path="people.person", watermark={"field": "updated", "argument": "since"}, **config
    )


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


async def calls(plugin: SoapSource, offset: Offset | None, *responses: Any) -> list[Batch]:
    """Poll once per response, committing each offset, as the worker does."""
    answering(plugin, *responses)
    batches = []
    for _ in responses:
        batches.append(await plugin.poll(offset))
        offset = batches[-1].offset
    return batches


async def test_an_item_at_exactly_the_watermark_shown_on_a_later_call_is_still_sent() -> None:
    plugin = late(id_field="id")
    before = [item(1, 1), item(2, 3), item(3, 3)]
    shown_late = [item(4, 3), item(5, 5)]  # 4 committed late in the watermark's minute
    first, second, third = await calls(
        plugin,
        None,
        people(*before),
        people(*before[1:], *shown_late),  # the service answers ``since`` inclusively
        people(item(5, 5), item(2, 5, age=99)),  # 2 changed at 5; 5 given again
    )
    assert [r.position["id"] for r in first.records] == [1, 2, 3]
    assert first.offset == {"watermark": at(3), "at": [2, 3]}

    assert [r.position for r in second.records] == [
        {"id": 4, "watermark": at(3)},
        {"id": 5, "watermark": at(5)},
    ]
    assert second.offset == {"watermark": at(5), "at": [5]}

    # An update at the watermark's value is a new version: sent, with a new event id.
    assert [r.position for r in third.records] == [{"id": 2, "watermark": at(5)}]
    assert third.offset == {"watermark": at(5), "at": [5, 2]}
    [nothing] = await calls(plugin, third.offset, people(item(5, 5), item(2, 5, age=99)))
    assert nothing == Batch([], third.offset)


async def test_an_offset_from_before_at_sends_the_items_at_its_watermark_once_more() -> None:
    plugin = late(id_field="id")
    items = [item(1, 1), item(2, 3), item(3, 3)]
    [fresh] = await calls(plugin, None, people(*items))
    upgraded, settled = await calls(
        plugin,
        {"watermark": at(3)},  # written before ``at``: which items at 3 were sent is unknown
        people(*items[1:], item(4, 4)),
        people(item(4, 4)),
    )
    # 2 and 3 again, with the positions (so the event ids) they were first sent with: a repeat.
    again = [r.position for r in fresh.records[1:]]
    assert [r.position for r in upgraded.records] == [*again, {"id": 4, "watermark": at(4)}]
    assert upgraded.offset == {"watermark": at(4), "at": [4]}
    assert settled == Batch([], upgraded.offset)


async def test_without_an_id_field_the_offset_names_the_items_at_it_by_digest() -> None:
    plugin = late()
    an = {"name": "An", "updated": T0 + timedelta(minutes=3)}
    binh = {"name": "Bình", "updated": T0 + timedelta(minutes=3)}
    first, second = await calls(plugin, None, people(an), people(an, binh))
    assert [r.value for r in first.records] == [plain(an)]
    assert first.offset == {"watermark": at(3), "at": [digest(an)]}
    assert [r.value for r in second.records] == [plain(binh)]
    assert second.offset == {"watermark": at(3), "at": [digest(an), digest(binh)]}
    # Two items at one watermark, without ids, are told apart: two event ids, not one.
    assert first.records[0].position != second.records[0].position


async def test_at_keeps_only_the_newest_items_past_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rest_paging, "MAX_AT", 2)
    plugin = late(id_field="id")
    same_minute = people(*(item(i, 3) for i in range(1, 5)))
    first, second = await calls(plugin, None, same_minute, same_minute)
    assert first.offset == {"watermark": at(3), "at": [3, 4]}
    # The forgotten ones are sent again, with the same positions (event ids): never lost.
    assert [r.position for r in second.records] == [r.position for r in first.records[:2]]


DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 4}
RICH = {
    "type": "record",
    "name": "Values",
    "fields": [
        {"name": "count", "type": "long"},
        {"name": "whole", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "amount", "type": DECIMAL},
        {"name": "born", "type": {"type": "int", "logicalType": "date"}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "seen", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "photo", "type": "bytes"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {
            "name": "address",
            "type": {
                "type": "record",
                "name": "Address",
                "fields": [
                    {"name": "ward", "type": "string"},
                ],
            },
        },
    ],
}


async def test_zeep_values_are_given_in_a_form_the_contract_accepts() -> None:
    plugin = source()
    response = {
        "count": 7,
        "whole": Decimal("42.00"),
        "ratio": Decimal("0.125"),
        "amount": Decimal("123456789012345678.1234"),  # more digits than a double holds
        "born": date(1990, 5, 17),
        "at": datetime(2025, 3, 1, 8, 0, 0, 123000, tzinfo=ICT),
        "seen": datetime(2025, 3, 1, 8, 0, 0, 654321),  # noqa: DTZ001 - the service gave no offset
        "photo": b"\x89PNG",
        "tags": ["a", "b"],
        "address": {"ward": "Phường Bến Nghé"},
    }
    answering(plugin, [response])
    record = (await plugin.poll(None)).records[0]
    assert record.value is not None
    assert record.value["whole"] == 42
    assert record.value["ratio"] == 0.125
    assert record.value["amount"] == "123456789012345678.1234"
    contract = compile_contract(1, RICH)
    assert decode(encode(contract, record.value), contract) == response | {
        "whole": 42,
        "ratio": 0.125,
        "at": datetime(2025, 3, 1, 1, 0, 0, 123000, tzinfo=UTC),
    }
