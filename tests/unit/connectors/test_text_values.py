"""Text values converted to the contract's types: every type, the formats, nulls, bad values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.connectors.text_values import TextValues, Unconvertible, text_converter
from services.core.avro.codec import compile_contract, decode, encode

VN = timezone(timedelta(hours=7))


def field(name: str, kind: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **extra}


SCHEMA = {
    "type": "record",
    "name": "Row",
    "fields": [
        field("i", "int"),
        field("l", "long"),
        field("f", "float"),
        field("d", "double"),
        field("b", "boolean"),
        field("s", "string"),
        field("day", {"type": "int", "logicalType": "date"}),
        field("ms", {"type": "long", "logicalType": "timestamp-millis"}),
        field("us", {"type": "long", "logicalType": "timestamp-micros"}),
        field("local", {"type": "long", "logicalType": "local-timestamp-millis"}),
        field("amount", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
        field("maybe", ["null", "int"], default=None),
        field("note", ["null", "string"], default=None),
        field("tags", {"type": "array", "items": "int"}, default=[]),
        field("next", ["null", "Row"], default=None),
    ],
}
CONTRACT = compile_contract(1, SCHEMA)
ROW = {
    "i": "42",
    "l": "9007199254740993",
    "f": "1.5",
    "d": "-2.5e3",
    "b": "true",
    "s": "0042",
    "day": "2025-03-14",
    "ms": "2025-03-14T09:30:15.123+07:00",
    "us": "2025-03-14T02:30:15.123456Z",
    "local": "2025-03-14T09:30:15",
    "amount": "1234.50",
}


def convert(value: dict[str, Any], **formats: Any) -> Any:
    return text_converter(CONTRACT.root, TextValues(**formats))(value)


def problems(value: dict[str, Any], **formats: Any) -> str:
    with pytest.raises(Unconvertible) as caught:
        convert(value, **formats)
    return str(caught.value)


def test_every_type_is_converted_and_the_record_encodes() -> None:
    out = convert(ROW)
    assert out["i"] == 42
    assert out["l"] == 9007199254740993  # exact: never through a float
    assert out["f"] == 1.5
    assert out["d"] == -2500.0
    assert out["b"] is True
    assert out["s"] == "0042"  # a string field keeps its text
    assert out["day"] == date(2025, 3, 14)
    assert out["ms"] == datetime(2025, 3, 14, 2, 30, 15, 123000, tzinfo=UTC)
    assert out["us"] == datetime(2025, 3, 14, 2, 30, 15, 123456, tzinfo=UTC)
    assert out["local"] == datetime(2025, 3, 14, 9, 30, 15)  # noqa: DTZ001 - a local timestamp
    assert out["amount"] == "1234.50"
    decoded = decode(encode(CONTRACT, out), CONTRACT)
    assert decoded["amount"] == Decimal("1234.50")
    assert decoded["ms"] == datetime(2025, 3, 14, 2, 30, 15, 123000, tzinfo=UTC)


def test_the_given_record_is_not_changed() -> None:
    row = dict(ROW)
    convert(row)
    assert row == ROW


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("FALSE", False), ("Yes", True), ("no", False), ("1", True), (" 0 ", False)],
)
def test_booleans(text: str, expected: bool) -> None:
    assert convert({**ROW, "b": text})["b"] is expected


@pytest.mark.parametrize(
    ("text", "expected"), [(" 42 ", 42), ("4.0", 4), ("-7", -7), ("1e3", 1000)]
)
def test_whole_numbers(text: str, expected: int) -> None:
    assert convert({**ROW, "i": text})["i"] == expected


def test_values_that_are_not_strings_are_left_to_the_codec() -> None:
    out = convert({**ROW, "i": 42, "b": False, "day": date(2025, 1, 1), "maybe": 3})
    assert (out["i"], out["b"], out["day"], out["maybe"]) == (42, False, date(2025, 1, 1), 3)


def test_dates_in_the_configured_format_and_iso_and_day_first_by_default() -> None:
    assert convert({**ROW, "day": "14/03/2025"})["day"] == date(2025, 3, 14)
    us = {"date_format": "%m/%d/%Y"}
    assert convert({**ROW, "day": "03/14/2025"}, **us)["day"] == date(2025, 3, 14)
    assert convert({**ROW, "day": "2025-03-14"}, **us)["day"] == date(2025, 3, 14)
    assert "/day: cannot be read as date: expected YYYY-MM-DD or %m/%d/%Y" in problems(
        {**ROW, "day": "14/03/2025"}, **us
    )


def test_naive_timestamps_are_in_the_configured_zone_ho_chi_minh_by_default() -> None:
    naive = {**ROW, "ms": "2025-03-14 09:30:15"}
    assert convert(naive)["ms"] == datetime(2025, 3, 14, 9, 30, 15, tzinfo=VN)
    assert convert(naive, timezone="UTC")["ms"] == datetime(2025, 3, 14, 9, 30, 15, tzinfo=UTC)
    legacy = {**ROW, "ms": "14/03/2025 09:30"}
    fmt = {"timestamp_format": "%d/%m/%Y %H:%M"}
    assert convert(legacy, **fmt)["ms"] == datetime(2025, 3, 14, 9, 30, tzinfo=VN)
    assert convert(ROW, **fmt)["ms"] == datetime(2025, 3, 14, 2, 30, 15, 123000, tzinfo=UTC)
    assert "/ms: cannot be read as timestamp-millis" in problems(legacy)


def test_timestamps_finer_than_microseconds_and_local_ones_with_an_offset_are_refused() -> None:
    assert "finer than microseconds" in problems({**ROW, "us": "2025-03-14T02:30:15.1234567Z"})
    assert "has a UTC offset" in problems({**ROW, "local": "2025-03-14T09:30:15+07:00"})


def test_empty_strings_are_null_where_the_field_is_nullable_and_an_error_elsewhere() -> None:
    out = convert({**ROW, "maybe": " ", "note": ""})
    assert out["maybe"] is None
    assert out["note"] == ""  # a string branch takes "" as it is
    assert convert({**ROW, "maybe": "7"})["maybe"] == 7
    assert "/i: empty, and the field (int) is not nullable" in problems({**ROW, "i": ""})


def test_nested_records_and_arrays_are_converted_with_their_paths() -> None:
    out = convert({**ROW, "tags": ["1", "2"], "next": {**ROW, "i": "5"}})
    assert out["tags"] == [1, 2]
    assert out["next"]["i"] == 5
    reason = problems({**ROW, "tags": ["1", "x"], "next": {**ROW, "b": "maybe"}})
    assert "/tags/1: cannot be read as int: not a number" in reason
    assert "/next/b: cannot be read as boolean: expected true/false, 1/0 or yes/no" in reason


def test_every_bad_field_is_named_and_no_value_is_quoted() -> None:
    reason = problems(
        {**ROW, "i": "4.5", "l": "079123456789x", "d": "1e999", "amount": "12,50", "day": "x"}
    )
    assert reason.split("; ") == [
        "/i: cannot be read as int: not a whole number",
        "/l: cannot be read as long: not a number",
        "/d: cannot be read as double: not a finite number in a double's range",
        "/day: cannot be read as date: expected YYYY-MM-DD or dd/mm/yyyy",
        "/amount: cannot be read as decimal(9,2): not a number",
    ]
    assert "079123456789" not in reason  # a value may be personal data: reasons never quote it


def test_formats_and_zones_are_checked_when_the_connector_is_configured() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        TextValues(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="% codes"):
        TextValues(date_format="dd/mm/yyyy")
