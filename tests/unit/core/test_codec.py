"""The contract codec: JSON conventions both ways, every error with its path, the wire format."""

from __future__ import annotations

import copy
import io
import json
import struct
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import fastavro
import pytest

from services.core.avro.codec import (
    MAX_LISTED_RECORDS,
    BatchInvalid,
    FieldError,
    PayloadInvalid,
    RecordInvalid,
    compile_contract,
    decode,
    encode,
    encode_many,
    schema_id_of,
    to_json,
    validate,
)
from services.core.errors import Unprocessable
from tests.unit.core.contract_samples import JSON_SAMPLES

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def load(relative: str) -> Any:
    return json.loads((SCHEMAS / relative).read_text(encoding="utf-8"))


def record_of(field_type: Any, **field: Any) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "T",
        "namespace": "vn.gov.test",
        "fields": [{"name": "v", "type": field_type, **field}],
    }


def wire(schema_id: int, body: bytes) -> bytes:
    return struct.pack(">bI", 0, schema_id) + body


def fastavro_body(schema: Any, value: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(copy.deepcopy(schema)), value)
    return out.getvalue()


def errors_of(schema: Any, value: Any) -> list[tuple[str, str]]:
    return [(e.path, e.reason) for e in validate(compile_contract(1, schema), value)]


ADDRESS = {
    "type": "record",
    "name": "Address",
    "fields": [
        {"name": "province_code", "type": "string"},
        {"name": "ward_code", "type": "string"},
        {"name": "street", "type": ["null", "string"], "default": None},
    ],
}
DEC_FIXED = {
    "type": "fixed",
    "name": "Money",
    "size": 8,
    "logicalType": "decimal",
    "precision": 18,
    "scale": 4,
}

# (type, JSON in, canonical JSON out, the value fastavro's own writer takes for the same bytes)
ROUND_TRIPS: list[tuple[str, Any, Any, Any, Any]] = [
    ("null", "null", None, None, None),
    ("true", "boolean", True, True, True),
    ("int-min", "int", -(2**31), -(2**31), -(2**31)),
    ("int-max", "int", 2**31 - 1, 2**31 - 1, 2**31 - 1),
    ("long-max", "long", 2**63 - 1, 2**63 - 1, 2**63 - 1),
    ("long-min", "long", -(2**63), -(2**63), -(2**63)),
    ("float", "float", 0.1, 0.1, 0.1),
    ("float-int", "float", 29, 29.0, 29.0),
    ("float-big", "float", 3.4e38, 3.4e38, 3.4e38),
    ("double", "double", 0.1, 0.1, 0.1),
    ("double-int", "double", 5, 5.0, 5.0),
    ("string", "string", "Nguyễn Thị Lan", "Nguyễn Thị Lan", "Nguyễn Thị Lan"),
    ("bytes", "bytes", "AAEC/w==", "AAEC/w==", b"\x00\x01\x02\xff"),
    ("bytes-empty", "bytes", "", "", b""),
    (
        "fixed",
        {"type": "fixed", "name": "Four", "size": 4},
        "AQIDBA==",
        "AQIDBA==",
        b"\x01\x02\x03\x04",
    ),
    (
        "enum",
        {"type": "enum", "name": "E", "symbols": ["A", "B"]},
        "B",
        "B",
        "B",
    ),
    ("array", {"type": "array", "items": "int"}, [1, 2, 3], [1, 2, 3], [1, 2, 3]),
    ("array-empty", {"type": "array", "items": "string"}, [], [], []),
    (
        "map",
        {"type": "map", "values": "string"},
        {"a": "x", "b/c": "y"},
        {"a": "x", "b/c": "y"},
        {"a": "x", "b/c": "y"},
    ),
    ("date", {"type": "int", "logicalType": "date"}, "2024-02-29", "2024-02-29", date(2024, 2, 29)),
    ("date-days", {"type": "int", "logicalType": "date"}, 19782, "2024-02-29", date(2024, 2, 29)),
    ("date-min", {"type": "int", "logicalType": "date"}, "0001-01-01", "0001-01-01", date.min),
    ("date-max", {"type": "int", "logicalType": "date"}, "9999-12-31", "9999-12-31", date.max),
    (
        "time-millis",
        {"type": "int", "logicalType": "time-millis"},
        "10:30:00",
        "10:30:00.000",
        time(10, 30),
    ),
    (
        "time-millis-fraction",
        {"type": "int", "logicalType": "time-millis"},
        "23:59:59.999",
        "23:59:59.999",
        time(23, 59, 59, 999000),
    ),
    (
        "time-millis-int",
        {"type": "int", "logicalType": "time-millis"},
        1,
        "00:00:00.001",
        time(0, 0, 0, 1000),
    ),
    (
        "time-micros",
        {"type": "long", "logicalType": "time-micros"},
        "10:30:00.123456",
        "10:30:00.123456",
        time(10, 30, 0, 123456),
    ),
    (
        "timestamp-millis-offset",
        {"type": "long", "logicalType": "timestamp-millis"},
        "2025-03-14T09:30:15.123+07:00",
        "2025-03-14T02:30:15.123Z",
        datetime(2025, 3, 14, 2, 30, 15, 123000, tzinfo=UTC),
    ),
    (
        "timestamp-millis-z",
        {"type": "long", "logicalType": "timestamp-millis"},
        "2025-03-14T02:30:15.123Z",
        "2025-03-14T02:30:15.123Z",
        datetime(2025, 3, 14, 2, 30, 15, 123000, tzinfo=UTC),
    ),
    (
        "timestamp-millis-negative-offset",
        {"type": "long", "logicalType": "timestamp-millis"},
        "2025-03-13T21:30:15-05:00",
        "2025-03-14T02:30:15.000Z",
        datetime(2025, 3, 14, 2, 30, 15, tzinfo=UTC),
    ),
    (
        "timestamp-millis-int",
        {"type": "long", "logicalType": "timestamp-millis"},
        0,
        "1970-01-01T00:00:00.000Z",
        datetime(1970, 1, 1, tzinfo=UTC),
    ),
    (
        "timestamp-millis-before-1970",
        {"type": "long", "logicalType": "timestamp-millis"},
        "1969-12-31T23:59:59.999Z",
        "1969-12-31T23:59:59.999Z",
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ),
    (
        "timestamp-micros",
        {"type": "long", "logicalType": "timestamp-micros"},
        "2025-03-14T02:30:15.123456Z",
        "2025-03-14T02:30:15.123456Z",
        datetime(2025, 3, 14, 2, 30, 15, 123456, tzinfo=UTC),
    ),
    (
        "timestamp-micros-zero-nanos",
        {"type": "long", "logicalType": "timestamp-micros"},
        "2025-03-14T02:30:15.123456000Z",
        "2025-03-14T02:30:15.123456Z",
        datetime(2025, 3, 14, 2, 30, 15, 123456, tzinfo=UTC),
    ),
    (
        "local-timestamp-millis",
        {"type": "long", "logicalType": "local-timestamp-millis"},
        "2025-03-14T09:30:15.123",
        "2025-03-14T09:30:15.123",
        datetime(2025, 3, 14, 9, 30, 15, 123000),  # noqa: DTZ001
    ),
    (
        "local-timestamp-micros",
        {"type": "long", "logicalType": "local-timestamp-micros"},
        "2025-03-14T09:30:15.000001",
        "2025-03-14T09:30:15.000001",
        datetime(2025, 3, 14, 9, 30, 15, 1),  # noqa: DTZ001
    ),
    (
        "decimal",
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        "123.4",
        "123.40",
        Decimal("123.40"),
    ),
    (
        "decimal-negative",
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        "-0.5",
        "-0.50",
        Decimal("-0.50"),
    ),
    (
        "decimal-number",
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        12.25,
        "12.25",
        Decimal("12.25"),
    ),
    (
        "decimal-int",
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        -128,
        "-128.00",
        Decimal("-128.00"),
    ),
    (
        "decimal-exponent",
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        "1E+2",
        "100.00",
        Decimal("100.00"),
    ),
    (
        "decimal-trailing-zeros",
        {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2},
        "123.45000",
        "123.45",
        Decimal("123.45"),
    ),
    (
        "decimal-long-zero-tail",
        {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2},
        "1." + "0" * 5000,
        "1.00",
        Decimal("1.00"),
    ),
    (
        "decimal-zero",
        {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        "0",
        "0.00",
        Decimal("0.00"),
    ),
    (
        "decimal-scale-0",
        {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 0},
        "5000000000",
        "5000000000",
        Decimal("5000000000"),
    ),
    ("decimal-fixed", DEC_FIXED, "-12345.6789", "-12345.6789", Decimal("-12345.6789")),
    ("decimal-fixed-small", DEC_FIXED, "0.0001", "0.0001", Decimal("0.0001")),
    (
        "uuid",
        {"type": "string", "logicalType": "uuid"},
        "0B3F1D8E-6A52-4C3E-9D0F-2B7A5F1C9E44",
        "0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44",
        uuid.UUID("0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44"),
    ),
    ("nullable-null", ["null", "string"], None, None, None),
    ("nullable-string", ["null", "string"], "x", "x", "x"),
    ("union-long", ["null", "int", "long"], 2**40, 2**40, 2**40),
    ("union-int", ["null", "int", "long"], 7, 7, 7),
    ("union-wrapped", ["null", "string"], {"string": "x"}, "x", "x"),
    ("union-wrapped-null", ["null", "string"], {"null": None}, None, None),
    (
        "union-date",
        ["null", {"type": "int", "logicalType": "date"}],
        "2025-01-01",
        "2025-01-01",
        date(2025, 1, 1),
    ),
    (
        "union-decimal",
        ["null", {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 1}],
        "-99.9",
        "-99.9",
        Decimal("-99.9"),
    ),
    (
        "union-record",
        ["null", ADDRESS],
        {"province_code": "01", "ward_code": "00004"},
        {"province_code": "01", "ward_code": "00004", "street": None},
        {"province_code": "01", "ward_code": "00004", "street": None},
    ),
    (
        "union-record-wrapped",
        ["null", ADDRESS],
        {"vn.gov.test.Address": {"province_code": "01", "ward_code": "2", "street": "x"}},
        {"province_code": "01", "ward_code": "2", "street": "x"},
        {"province_code": "01", "ward_code": "2", "street": "x"},
    ),
    (
        "union-of-many",
        ["null", "string", "long", {"type": "array", "items": "string"}],
        ["a", "b"],
        ["a", "b"],
        ["a", "b"],
    ),
    (
        "array-of-timestamps",
        {"type": "array", "items": {"type": "long", "logicalType": "timestamp-millis"}},
        ["2025-03-14T02:30:15.000Z", 1],
        ["2025-03-14T02:30:15.000Z", "1970-01-01T00:00:00.001Z"],
        [
            datetime(2025, 3, 14, 2, 30, 15, tzinfo=UTC),
            datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC),
        ],
    ),
    (
        "map-of-bytes",
        {"type": "map", "values": "bytes"},
        {"k": "/w=="},
        {"k": "/w=="},
        {"k": b"\xff"},
    ),
]


@pytest.mark.parametrize(
    ("field_type", "given", "canonical", "native"),
    [case[1:] for case in ROUND_TRIPS],
    ids=[case[0] for case in ROUND_TRIPS],
)
def test_every_type_round_trips_and_encodes_as_fastavro_does(
    field_type: Any, given: Any, canonical: Any, native: Any
) -> None:
    schema = record_of(field_type)
    contract = compile_contract(7, schema)
    assert validate(contract, {"v": given}) == []
    payload = encode(contract, {"v": given})
    assert payload[:5] == b"\x00\x00\x00\x00\x07"
    assert payload[5:] == fastavro_body(schema, {"v": native})
    decoded = decode(payload, contract)
    if field_type == "float":  # what 32 bits hold of it
        native = struct.unpack("<f", struct.pack("<f", native))[0]
    assert decoded == {"v": native}
    out = to_json(contract, decoded)
    assert out == {"v": canonical}
    assert type(out["v"]) is type(canonical)
    # the canonical form is a fixed point: publish what you consumed and get the same bytes
    assert encode(contract, json.loads(json.dumps(out))) == payload


def test_every_sample_contract_has_a_sample_record() -> None:
    assert sorted(JSON_SAMPLES) == sorted(
        p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.avsc")
    )


@pytest.mark.parametrize("contract_file", sorted(JSON_SAMPLES))
def test_sample_contracts_round_trip_json_exactly(contract_file: str) -> None:
    contract = compile_contract(42, load(contract_file))
    record = JSON_SAMPLES[contract_file]
    sent = json.dumps(record, ensure_ascii=False)
    payload = encode(contract, json.loads(sent))
    assert schema_id_of(payload) == 42
    received = json.dumps(to_json(contract, decode(payload, contract)), ensure_ascii=False)
    assert received == sent


def test_encoding_does_not_change_the_callers_record() -> None:
    contract = compile_contract(1, load("mps/residence-changes.avsc"))
    record = copy.deepcopy(JSON_SAMPLES["mps/residence-changes.avsc"])
    encode(contract, record)
    assert record == JSON_SAMPLES["mps/residence-changes.avsc"]


def test_a_record_that_needs_no_conversion_is_not_copied() -> None:
    schema = {
        "type": "record",
        "name": "Plain",
        "fields": [
            {"name": "a", "type": "string"},
            {"name": "b", "type": "long"},
            {"name": "c", "type": ["null", "double"]},
            {"name": "d", "type": {"type": "array", "items": "int"}},
        ],
    }
    record = {"a": "x", "b": 1, "c": None, "d": [1, 2]}
    assert compile_contract(1, schema).root.convert(record) is record


def test_connectors_may_pass_python_values() -> None:
    contract = compile_contract(3, load("mps/residence-changes.avsc"))
    record = JSON_SAMPLES["mps/residence-changes.avsc"] | {
        "event_id": uuid.UUID("0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44"),
        "date_of_birth": date(1989, 7, 2),
        "effective_date": date(2025, 3, 14),
        "recorded_at": datetime(
            2025, 3, 14, 9, 30, 15, 123000, tzinfo=timezone(timedelta(hours=7))
        ),
    }
    assert encode(contract, record) == encode(contract, JSON_SAMPLES["mps/residence-changes.avsc"])
    decimal = compile_contract(1, record_of(DEC_FIXED))
    assert encode(decimal, {"v": Decimal("1.5")}) == encode(decimal, {"v": "1.5"})
    raw = compile_contract(1, record_of("bytes"))
    assert encode(raw, {"v": b"\xff"}) == encode(raw, {"v": "/w=="})
    times = compile_contract(1, record_of({"type": "int", "logicalType": "time-millis"}))
    assert encode(times, {"v": time(10, 30)}) == encode(times, {"v": "10:30:00"})
    rows = compile_contract(1, record_of({"type": "array", "items": "string"}))
    assert encode(rows, MappingProxyType({"v": ("a", "b")})) == encode(rows, {"v": ["a", "b"]})


# --- defaults -----------------------------------------------------------------------------------


def test_missing_fields_take_their_defaults() -> None:
    schema = {
        "type": "record",
        "name": "D",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "note", "type": ["null", "string"], "default": None},
            {"name": "codes", "type": {"type": "array", "items": "string"}, "default": []},
            {"name": "raw", "type": "bytes", "default": "\u00ff\u0000"},
            {
                "name": "kind",
                "type": {"type": "enum", "name": "K", "symbols": ["A", "B"]},
                "default": "B",
            },
            {"name": "when", "type": {"type": "int", "logicalType": "date"}, "default": 0},
            {
                "name": "money",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2},
                "default": "\u0001\u0000",
            },
            {
                "name": "place",
                "type": {
                    "type": "record",
                    "name": "P",
                    "fields": [
                        {"name": "code", "type": "string"},
                        {"name": "level", "type": "int", "default": 1},
                    ],
                },
                "default": {"code": "01"},
            },
        ],
    }
    contract = compile_contract(1, schema)
    given = {"id": "x"}
    assert validate(contract, given) == []
    full = {
        "id": "x",
        "note": None,
        "codes": [],
        "raw": "/wA=",
        "kind": "B",
        "when": "1970-01-01",
        "money": "2.56",
        "place": {"code": "01", "level": 1},
    }
    payload = encode(contract, given)
    assert payload == encode(contract, full)
    assert to_json(contract, decode(payload, contract)) == full


def test_a_nullable_field_without_a_default_must_be_given() -> None:
    schema = record_of(["null", "string"])
    assert errors_of(schema, {}) == [("/v", "missing required field")]
    assert errors_of(schema, {"v": None}) == []


# --- errors -------------------------------------------------------------------------------------

DATE = {"type": "int", "logicalType": "date"}
TS_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
TS_MICROS = {"type": "long", "logicalType": "timestamp-micros"}
LOCAL_MILLIS = {"type": "long", "logicalType": "local-timestamp-millis"}
TIME_MILLIS = {"type": "int", "logicalType": "time-millis"}
DEC_5_2 = {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}
UUID = {"type": "string", "logicalType": "uuid"}
ENUM = {"type": "enum", "name": "E", "symbols": ["A", "B"]}

BAD_VALUES: list[tuple[str, Any, Any, str]] = [
    ("int-string", "int", "abc", "expected int, got string 'abc'"),
    ("int-float", "int", 1.5, "expected int, got number 1.5"),
    ("int-integral-float", "int", 5.0, "expected int, got number 5.0"),
    ("int-bool", "int", True, "expected int, got boolean true"),
    ("int-null", "int", None, "expected int, got null"),
    ("int-range", "int", 2**31, "out of range for int (-2147483648 to 2147483647)"),
    ("long-range", "long", -(2**63) - 1, "out of range for long"),
    ("long-object", "long", {"a": 1}, "expected long, got object"),
    ("double-string", "double", "1.0", "expected double, got string '1.0'"),
    ("double-nan", "double", float("nan"), "not a finite number"),
    ("double-inf", "double", float("inf"), "not a finite number"),
    ("float-range", "float", 1e39, "out of range for float"),
    ("boolean-string", "boolean", "true", "expected boolean, got string 'true'"),
    ("boolean-int", "boolean", 1, "expected boolean, got number 1"),
    ("string-number", "string", 5, "expected string, got number 5"),
    ("string-array", "string", ["a"], "expected string, got array"),
    ("null-string", "null", "", "expected null, got string ''"),
    ("enum", ENUM, "C", "not one of the enum symbols [A, B]"),
    ("enum-number", ENUM, 1, "expected one of the enum symbols [A, B], got number 1"),
    ("bytes", "bytes", "not base64!", "not base64"),
    ("bytes-padding", "bytes", "AAE", "not base64"),
    ("bytes-number", "bytes", 5, "expected bytes (base64), got number 5"),
    ("fixed-size", {"type": "fixed", "name": "F", "size": 4}, "AQID", "expected 4 bytes, got 3"),
    ("date-month", DATE, "2024-13-01", "not a date (YYYY-MM-DD): string '2024-13-01'"),
    ("date-day", DATE, "2023-02-29", "not a date (YYYY-MM-DD)"),
    ("date-short", DATE, "2024-1-01", "not a date (YYYY-MM-DD)"),
    ("date-basic-form", DATE, "20240101", "not a date (YYYY-MM-DD)"),
    ("date-datetime-text", DATE, "2024-01-01T00:00:00Z", "not a date (YYYY-MM-DD)"),
    ("date-range", DATE, 3_000_000, "date out of range (0001-01-01 to 9999-12-31)"),
    ("date-float", DATE, 1.0, "expected a date (YYYY-MM-DD), got number 1.0"),
    ("time-hour", TIME_MILLIS, "24:00:00", "not a time of day (HH:MM:SS[.fff])"),
    ("time-no-seconds", TIME_MILLIS, "10:30", "not a time of day"),
    (
        "time-precision",
        TIME_MILLIS,
        "10:30:00.1234",
        "time-millis has more than 3 digits after the point",
    ),
    ("time-range", TIME_MILLIS, 86_400_000, "time-millis out of range (0 to 86399999)"),
    (
        "ts-naive",
        TS_MILLIS,
        "2025-03-14T09:30:15",
        "timestamp-millis needs a UTC offset (Z or ±HH:MM)",
    ),
    ("ts-date-only", TS_MILLIS, "2025-03-14", "not a timestamp-millis"),
    ("ts-no-seconds", TS_MILLIS, "2025-03-14T09:30Z", "not a timestamp-millis"),
    ("ts-garbage", TS_MILLIS, "yesterday", "not a timestamp-millis"),
    ("ts-month", TS_MILLIS, "2025-13-14T09:30:15Z", "not a timestamp-millis"),
    (
        "ts-precision",
        TS_MILLIS,
        "2025-03-14T09:30:15.1234Z",
        "timestamp-millis has more than 3 digits after the point",
    ),
    (
        "ts-nanos",
        TS_MICROS,
        "2025-03-14T09:30:15.1234567Z",
        "timestamp-micros has more than 6 digits after the point",
    ),
    (
        "ts-range",
        TS_MILLIS,
        "0001-01-01T00:00:00+01:00",
        "timestamp-millis out of range (years 0001 to 9999)",
    ),
    ("ts-int-range", TS_MILLIS, 2**62, "timestamp-millis out of range"),
    ("ts-naive-datetime", TS_MILLIS, datetime(2025, 1, 1), "timestamp-millis needs a UTC"),  # noqa: DTZ001
    ("ts-bool", TS_MILLIS, False, "expected timestamp-millis (ISO-8601 text), got boolean false"),
    (
        "local-offset",
        LOCAL_MILLIS,
        "2025-03-14T09:30:15Z",
        "local-timestamp-millis takes a date and time without a UTC offset",
    ),
    ("decimal-scale", DEC_5_2, "123.456", "decimal has more than 2 digits after the point"),
    ("decimal-precision", DEC_5_2, "1234.5", "decimal has more than 3 digits before the point"),
    ("decimal-float-scale", DEC_5_2, 0.125, "decimal has more than 2 digits after the point"),
    ("decimal-text", DEC_5_2, "12,5", "not a decimal number: string '12,5'"),
    ("decimal-underscore", DEC_5_2, "1_0", "not a decimal number"),
    ("decimal-nan-text", DEC_5_2, "NaN", "not a decimal number"),
    ("decimal-infinity", DEC_5_2, float("inf"), "not a finite number"),
    (
        "decimal-huge-exponent",
        DEC_5_2,
        "1e999999999",
        "decimal has more than 3 digits before the point",
    ),
    ("decimal-bool", DEC_5_2, True, "expected decimal(5,2)"),
    ("uuid", UUID, "not-a-uuid", "not a UUID (8-4-4-4-12 hexadecimal digits)"),
    ("uuid-braces", UUID, "{0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44}", "not a UUID"),
    ("array", {"type": "array", "items": "int"}, "1,2", "expected an array, got string '1,2'"),
    ("map", {"type": "map", "values": "int"}, [1], "expected an object (map), got array"),
    ("record", ADDRESS, "01", "expected an object (record Address), got string '01'"),
    ("union", ["null", "string"], 5, "expected one of null, string, got number 5"),
    ("union-one-candidate", ["null", "long"], 2**64, "out of range for long"),
    ("long-string-shown-short", "long", "x" * 100, "expected long, got string '" + "x" * 40 + "…'"),
]


@pytest.mark.parametrize(
    ("field_type", "value", "reason"),
    [case[1:] for case in BAD_VALUES],
    ids=[case[0] for case in BAD_VALUES],
)
def test_every_error_has_its_reason_and_path(field_type: Any, value: Any, reason: str) -> None:
    errors = errors_of(record_of(field_type), {"v": value})
    assert len(errors) == 1
    path, found = errors[0]
    assert path == "/v"
    assert found.startswith(reason), found
    with pytest.raises(RecordInvalid):
        encode(compile_contract(1, record_of(field_type)), {"v": value})


def test_all_errors_of_a_record_are_reported_with_json_pointer_paths() -> None:
    schema = {
        "type": "record",
        "name": "Citizen",
        "namespace": "vn.gov.test",
        "fields": [
            {"name": "citizen_id", "type": "string"},
            {"name": "born", "type": DATE},
            {"name": "home", "type": ADDRESS},
            {"name": "work", "type": ["null", "Address"], "default": None},
            {"name": "codes", "type": {"type": "array", "items": "int"}},
            {"name": "tags", "type": {"type": "map", "values": "long"}},
            {"name": "history", "type": {"type": "array", "items": "Address"}, "default": []},
        ],
    }
    record = {
        "born": "2024-02-30",
        "home": {"province_code": 1, "ward_code": "00004", "stret": "typo"},
        "work": {"vn.gov.test.Address": {"province_code": "01"}},
        "codes": [1, "two", 3, None],
        "tags": {"a/b": 1, "c~d": "x", "ok": 2},
        "history": [{"province_code": "01", "ward_code": "1"}, "nope"],
        "extra": True,
    }
    assert errors_of(schema, record) == [
        ("/citizen_id", "missing required field"),
        ("/born", "not a date (YYYY-MM-DD): string '2024-02-30'"),
        ("/home/province_code", "expected string, got number 1"),
        ("/home/stret", "unknown field"),
        ("/work/vn.gov.test.Address/ward_code", "missing required field"),
        ("/codes/1", "expected int, got string 'two'"),
        ("/codes/3", "expected int, got null"),
        ("/tags/c~0d", "expected long, got string 'x'"),
        ("/history/1", "expected an object (record Address), got string 'nope'"),
        ("/extra", "unknown field"),
    ]
    contract = compile_contract(1, schema)
    with pytest.raises(RecordInvalid) as caught:
        encode(contract, record)
    assert isinstance(caught.value, Unprocessable)
    assert caught.value.status == 422
    assert caught.value.errors[0] == {"path": "/citizen_id", "reason": "missing required field"}
    assert len(caught.value.field_errors) == 10
    assert "(and 9 more)" in caught.value.message


def test_a_record_that_is_not_an_object_is_an_error_at_the_root() -> None:
    contract = compile_contract(1, load("mps/residence-changes.avsc"))
    assert validate(contract, [1, 2]) == [
        FieldError("", "expected an object (record ResidenceChange), got array")
    ]


def test_unknown_fields_are_errors_even_when_everything_else_is_right() -> None:
    record = JSON_SAMPLES["vss/health-insurance-cards.avsc"] | {"holder_nmae": "typo"}
    assert errors_of(load("vss/health-insurance-cards.avsc"), record) == [
        ("/holder_nmae", "unknown field")
    ]


# --- unions -------------------------------------------------------------------------------------

TWO_RECORDS = [
    "null",
    {"type": "record", "name": "Point", "fields": [{"name": "x", "type": "long"}]},
    {
        "type": "record",
        "name": "Place",
        "fields": [{"name": "x", "type": "string"}, {"name": "y", "type": "string", "default": ""}],
    },
]


def test_a_bare_union_value_takes_the_first_branch_that_accepts_it() -> None:
    contract = compile_contract(1, record_of(TWO_RECORDS))
    point = encode(contract, {"v": {"x": 5}})
    place = encode(contract, {"v": {"x": "5"}})
    assert point[5:] == b"\x02\x0a"  # branch 1, long 5
    assert place[5:] == b"\x04\x025\x00"  # branch 2, "5", ""
    assert to_json(contract, decode(place, contract)) == {"v": {"x": "5", "y": ""}}
    assert to_json(contract, decode(point, contract)) == {"v": {"x": 5}}


def test_the_wrapped_form_chooses_a_union_branch_explicitly() -> None:
    contract = compile_contract(1, record_of(["null", "int", "long"]))
    assert encode(contract, {"v": {"long": 5}})[5:] == b"\x04\x0a"
    assert encode(contract, {"v": 5})[5:] == b"\x02\x0a"
    wrapped_error = errors_of(record_of(TWO_RECORDS), {"v": {"vn.gov.test.Place": {"x": 1}}})
    assert wrapped_error == [("/v/vn.gov.test.Place/x", "expected string, got number 1")]


def test_a_union_with_a_map_reads_every_object_as_the_map() -> None:
    schema = record_of(["null", {"type": "map", "values": "string"}])
    contract = compile_contract(1, schema)
    payload = encode(contract, {"v": {"string": "x"}})
    assert to_json(contract, decode(payload, contract)) == {"v": {"string": "x"}}


def test_a_value_no_union_branch_accepts_is_reported_once() -> None:
    assert errors_of(record_of(TWO_RECORDS), {"v": {"z": 1}}) == [
        ("/v", "expected one of null, Point, Place, got object")
    ]
    assert errors_of(
        record_of(["null", ADDRESS]), {"v": {"province_code": 1, "ward_code": "2"}}
    ) == [("/v/province_code", "expected string, got number 1")]


# --- batches ------------------------------------------------------------------------------------


def reading(i: int) -> dict[str, Any]:
    return JSON_SAMPLES["mps/residence-changes.avsc"] | {"citizen_id": f"{i:012d}"}


def test_a_valid_batch_encodes_every_record_in_order() -> None:
    contract = compile_contract(9, load("mps/residence-changes.avsc"))
    records = [reading(i) for i in range(1000)]
    payloads = encode_many(contract, records)
    assert payloads == [encode(contract, r) for r in records]
    assert decode(payloads[123], contract)["citizen_id"] == "000000000123"


def test_one_bad_record_in_a_thousand_fails_the_batch_naming_exactly_it() -> None:
    contract = compile_contract(9, load("mps/residence-changes.avsc"))
    records = [reading(i) for i in range(1000)]
    records[437] = records[437] | {"date_of_birth": "07/02/1989", "colour": "red"}
    with pytest.raises(BatchInvalid) as caught:
        encode_many(contract, iter(records))
    error = caught.value
    assert isinstance(error, Unprocessable)
    assert error.status == 422
    assert error.invalid_count == 1
    assert error.total == 1000
    assert error.errors == [
        {
            "index": 437,
            "errors": [
                {
                    "path": "/date_of_birth",
                    "reason": "not a date (YYYY-MM-DD): string '07/02/1989'",
                },
                {"path": "/colour", "reason": "unknown field"},
            ],
        }
    ]
    assert error.message == "1 of 1000 records do not match the contract"


def test_a_batch_lists_at_most_a_hundred_bad_records_and_counts_the_rest() -> None:
    contract = compile_contract(9, load("mps/residence-changes.avsc"))
    records = [reading(i) if i % 3 else {"nope": i} for i in range(600)]
    with pytest.raises(BatchInvalid) as caught:
        encode_many(contract, records)
    error = caught.value
    assert error.invalid_count == 200
    assert len(error.errors) == MAX_LISTED_RECORDS
    assert [e["index"] for e in error.errors] == list(range(0, 300, 3))
    assert "the first 100 are listed" in error.message


def test_an_empty_batch_is_valid() -> None:
    assert encode_many(compile_contract(1, record_of("int")), []) == []


# --- decoding -----------------------------------------------------------------------------------

V1 = {
    "type": "record",
    "name": "Card",
    "namespace": "vn.gov.test",
    "fields": [
        {"name": "number", "type": "string"},
        {"name": "holder", "type": "string"},
        {"name": "valid_from", "type": DATE},
    ],
}
V2 = {
    "type": "record",
    "name": "Card",
    "namespace": "vn.gov.test",
    "fields": [
        {"name": "number", "type": "string"},
        {"name": "valid_from", "type": DATE},
        {"name": "status", "type": "string", "default": "ACTIVE"},
        {"name": "points", "type": "long", "default": 0},
    ],
}


def test_decode_with_a_reader_schema_resolves_as_avro_does() -> None:
    writer, reader = compile_contract(1, V1), compile_contract(2, V2)
    payload = encode(writer, {"number": "N1", "holder": "Lan", "valid_from": "2025-01-01"})
    assert to_json(reader, decode(payload, writer, reader)) == {
        "number": "N1",
        "valid_from": "2025-01-01",
        "status": "ACTIVE",
        "points": 0,
    }
    assert decode(payload, writer, writer) == decode(payload, writer)


def test_decode_rejects_what_is_not_a_record_of_the_schema() -> None:
    contract = compile_contract(5, V1)
    payload = encode(contract, {"number": "N1", "holder": "Lan", "valid_from": 1})
    with pytest.raises(PayloadInvalid, match="fewer than the 5-byte header"):
        decode(payload[:4], contract)
    with pytest.raises(PayloadInvalid, match="not the wire format's magic byte 0"):
        decode(b"\x01" + payload[1:], contract)
    with pytest.raises(PayloadInvalid, match="written with schema id 6, not 5"):
        decode(wire(6, payload[5:]), contract)
    with pytest.raises(PayloadInvalid, match="not a record of schema id 5"):
        decode(payload[:-2], contract)
    with pytest.raises(PayloadInvalid, match="2 bytes follow the record"):
        decode(payload + b"\x00\x00", contract)
    with pytest.raises(PayloadInvalid, match="not a record of schema id 5"):
        decode(wire(5, b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"), contract)
    incompatible = compile_contract(6, record_of("int"))
    with pytest.raises(PayloadInvalid):
        decode(payload, contract, incompatible)
    assert PayloadInvalid("x").status == 422


def test_schema_id_of_reads_the_header() -> None:
    assert schema_id_of(wire(2**31 - 1, b"")) == 2**31 - 1
    with pytest.raises(PayloadInvalid):
        schema_id_of(b"")


# --- compiling ----------------------------------------------------------------------------------


def test_named_types_from_references_in_any_order() -> None:
    geo = {
        "type": "record",
        "name": "Geo",
        "namespace": "vn.gov.common",
        "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}],
    }
    address = {
        "type": "record",
        "name": "Address",
        "namespace": "vn.gov.common",
        "fields": [{"name": "ward_code", "type": "string"}, {"name": "geo", "type": "Geo"}],
    }
    schema = {
        "type": "record",
        "name": "Site",
        "namespace": "vn.gov.test",
        "fields": [{"name": "at", "type": "vn.gov.common.Address"}],
    }
    named = {"vn.gov.common.Address": address, "vn.gov.common.Geo": geo}
    contract = compile_contract(1, schema, named)
    record = {"at": {"ward_code": "00004", "geo": {"lat": 21.0, "lon": 105.8}}}
    assert to_json(contract, decode(encode(contract, record), contract)) == record
    assert errors_of_named(contract, {"at": {"ward_code": "1", "geo": {"lat": "x", "lon": 1}}}) == [
        ("/at/geo/lat", "expected double, got string 'x'")
    ]


def errors_of_named(contract: Any, value: Any) -> list[tuple[str, str]]:
    return [(e.path, e.reason) for e in validate(contract, value)]


def test_recursive_types_validate_and_encode() -> None:
    schema = {
        "type": "record",
        "name": "Unit",
        "fields": [
            {"name": "code", "type": "string"},
            {"name": "children", "type": {"type": "array", "items": "Unit"}, "default": []},
        ],
    }
    contract = compile_contract(1, schema)
    tree = {"code": "01", "children": [{"code": "001", "children": [{"code": "00004"}]}]}
    out = to_json(contract, decode(encode(contract, tree), contract))
    assert out == {
        "code": "01",
        "children": [{"code": "001", "children": [{"code": "00004", "children": []}]}],
    }
    assert errors_of(schema, {"code": "01", "children": [{"code": 1}]}) == [
        ("/children/0/code", "expected string, got number 1")
    ]


def test_a_schema_fastavro_cannot_parse_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid schema"):
        compile_contract(
            1, {"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]}
        )
    with pytest.raises(ValueError, match="out of range"):
        compile_contract(-1, record_of("int"))


def test_an_unknown_logical_type_is_its_underlying_type() -> None:
    schema = record_of({"type": "string", "logicalType": "iso-country"})
    contract = compile_contract(1, schema)
    assert to_json(contract, decode(encode(contract, {"v": "VN"}), contract)) == {"v": "VN"}
