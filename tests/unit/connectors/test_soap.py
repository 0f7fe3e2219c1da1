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
from services.connectors.plugins.soap import SoapFailed, SoapSource, SoapSourceConfig
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
    assert first.offset == {"watermark": "2025-03-01T08:03:00+07:00"}
    assert first.records[0].position == {"id": 1, "watermark": "2025-03-01T08:01:00+07:00"}
    assert second == Batch([], first.offset)
    assert [r.value["id"] for r in third.records if r.error is None and r.value] == [1]
    assert third.records[1].error == "the item has no value for the watermark field 'updated'"
    assert third.offset == {"watermark": "2025-03-01T08:04:00+07:00"}


@pytest.mark.parametrize(
    ("values", "stored", "expected"),
    [
        ([5, 9, 7], 6, {"watermark": 9}),
        ([Decimal("1.5"), Decimal("2.25")], 1.5, {"watermark": 2.25}),
        ([date(2025, 1, 2), date(2025, 1, 1)], "2025-01-01", {"watermark": "2025-01-02"}),
        # a time without an offset is taken as UTC: 08:30 UTC is after 08:00+07:00
        ([datetime(2025, 3, 1, 8, 30)], T0.isoformat(), {"watermark": "2025-03-01T08:30:00"}),  # noqa: DTZ001
    ],
)
async def test_watermark_types(values: list[Any], stored: Any, expected: Offset) -> None:
    plugin = source(watermark={"field": "v", "argument": "since"})
    answering(plugin, [{"v": v} for v in values])
    assert (await plugin.poll({"watermark": stored})).offset == expected


async def test_a_watermark_that_cannot_be_compared_fails_the_poll() -> None:
    plugin = source(watermark={"field": "v", "argument": "since"})
    answering(plugin, [{"v": 5}, {"v": "x"}])
    with pytest.raises(SoapFailed, match="cannot be compared"):
        await plugin.poll(None)


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
