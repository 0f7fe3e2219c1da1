"""Connector transforms: each transform, the chain's order, spec errors, and records left intact."""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from services.connectors.transforms import TransformError, Transforms, build_transforms
from services.core.avro.codec import compile_contract, decode, encode, to_json

KEY = "k3y-for-unit-tests-0123456789"


def run(spec: dict[str, Any], value: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    return build_transforms([spec]).apply(value, key)[0]


def cast(kind: str, value: Any) -> Any:
    return run({"type": "cast", "fields": {"f": kind}}, {"f": value})["f"]


def failure(specs: list[dict[str, Any]], value: dict[str, Any]) -> str:
    with pytest.raises(TransformError) as caught:
        build_transforms(specs).apply(value, None)
    return str(caught.value)


def spec_error(specs: Any) -> str:
    with pytest.raises(ValueError) as caught:
        build_transforms(specs)
    return str(caught.value)


# --- the chain as a whole ------------------------------------------------------------------------


@pytest.mark.parametrize("specs", [None, []])
def test_no_transforms_is_a_falsy_chain_that_returns_the_record_as_is(specs: Any) -> None:
    chain = build_transforms(specs)
    assert not chain
    value = {"a": 1, "b": {"c": 2}}
    assert chain.apply(value, "k") == (value, "k")


def test_a_chain_with_transforms_is_truthy() -> None:
    assert build_transforms([{"type": "drop", "fields": ["a"]}])
    assert isinstance(build_transforms(None), Transforms)


def test_transforms_apply_in_the_order_given() -> None:
    value = {"so_dien_thoai": "0912345678", "tuoi": "42"}
    renamed_then_masked = build_transforms(
        [
            {"type": "rename", "fields": {"so_dien_thoai": "phone", "tuoi": "age"}},
            {"type": "mask", "fields": ["phone"], "keep_last": 4},
            {"type": "cast", "fields": {"age": "int"}},
            {"type": "key", "fields": ["phone"]},
        ]
    )
    assert renamed_then_masked.apply(value, None) == (
        {"phone": "******5678", "age": 42},
        "******5678",
    )
    key_then_masked = build_transforms(
        [
            {"type": "key", "fields": ["so_dien_thoai"]},
            {"type": "mask", "fields": ["so_dien_thoai"], "keep_last": 4},
        ]
    )
    assert key_then_masked.apply(value, None) == (
        {"so_dien_thoai": "******5678", "tuoi": "42"},
        "0912345678",
    )
    # A field a transform looks for under its old name is gone after the rename.
    cast_after_rename = build_transforms(
        [
            {"type": "rename", "fields": {"tuoi": "age"}},
            {"type": "cast", "fields": {"tuoi": "int"}},
        ]
    )
    assert cast_after_rename.apply(value, None)[0] == {"so_dien_thoai": "0912345678", "age": "42"}


def test_insert_then_drop_and_drop_then_insert() -> None:
    insert_drop = [
        {"type": "insert", "field": "source_system", "value": "hcm"},
        {"type": "drop", "fields": ["source_system"]},
    ]
    assert build_transforms(insert_drop).apply({"a": 1}, None)[0] == {"a": 1}
    drop_insert = list(reversed(insert_drop))
    assert build_transforms(drop_insert).apply({"a": 1}, None)[0] == {
        "a": 1,
        "source_system": "hcm",
    }


def test_the_input_record_is_never_changed() -> None:
    value = {
        "name": "Trần Thị Bình",
        "phone": "0912345678",
        "citizen_id": "001090012345",
        "age": "42",
        "address": {"street": "12 Lý Thái Tổ", "ward": {"code": "00001", "name": "Phúc Xá"}},
        "tags": ["a", "b"],
        "secret": "x",
    }
    original = copy.deepcopy(value)
    chain = build_transforms(
        [
            {"type": "rename", "fields": {"name": "full_name"}},
            {"type": "drop", "fields": ["secret", "address.ward.name"]},
            {"type": "cast", "fields": {"age": "int", "address.ward.code": "int"}},
            {"type": "mask", "fields": ["phone", "address.street"], "keep_last": 3},
            {"type": "hash", "fields": ["citizen_id"], "key": KEY},
            {"type": "key", "fields": ["address.ward.code", "citizen_id"]},
            {"type": "insert", "field": "origin", "value": {"system": "hcm"}},
        ]
    )
    out, key = chain.apply(value, "old")
    assert value == original
    digest = hmac_hex(KEY, "001090012345")
    assert out == {
        "full_name": "Trần Thị Bình",
        "phone": "*******678",
        "citizen_id": digest,
        "age": 42,
        "address": {"street": "*" * 10 + " Tổ", "ward": {"code": 1}},
        "tags": ["a", "b"],
        "origin": {"system": "hcm"},
    }
    assert key == f"1:{digest}"
    # Changing the output's objects afterwards does not reach the input either.
    out["address"]["ward"]["code"] = 99
    out["address"]["street"] = "changed"
    assert value == original


def test_nested_objects_the_chain_changes_are_new_objects() -> None:
    value: dict[str, Any] = {
        "address": {"street": "12 Lý Thái Tổ", "ward": {"code": "00001"}},
        "other": {"x": 1},
    }
    out = run({"type": "cast", "fields": {"address.ward.code": "int"}}, value)
    assert out == {"address": {"street": "12 Lý Thái Tổ", "ward": {"code": 1}}, "other": {"x": 1}}
    assert out["address"] is not value["address"]
    assert out["address"]["ward"] is not value["address"]["ward"]
    assert value["address"]["ward"] == {"code": "00001"}


def test_a_read_only_mapping_is_accepted() -> None:
    value = MappingProxyType({"a": "1", "b": MappingProxyType({"c": "2"})})
    out = build_transforms([{"type": "cast", "fields": {"a": "int", "b.c": "int"}}]).apply(
        value, None
    )
    assert out[0] == {"a": 1, "b": {"c": 2}}


def test_a_transform_error_names_the_transform_and_is_a_value_error() -> None:
    message = failure(
        [{"type": "drop", "fields": ["x"]}, {"type": "cast", "fields": {"age": "int"}}],
        {"age": "forty-two"},
    )
    assert (
        message
        == "transforms[1] (cast): field 'age': cannot cast string 'forty-two' to int: not a number"
    )
    assert issubclass(TransformError, ValueError)


def test_specs_from_a_yaml_deployment_file() -> None:
    specs = yaml.safe_load(
        """
        transforms:
          - type: rename
            fields: {ho_ten: full_name, ngay_sinh: born}
          - type: cast
            fields: {born: date}
          - type: insert
            field: source_system
            value: hcm-residence
        """
    )["transforms"]
    out = build_transforms(specs).apply({"ho_ten": "Lê Văn Cường", "ngay_sinh": "05/11/1988"}, None)
    assert out == (
        {"full_name": "Lê Văn Cường", "born": "1988-11-05", "source_system": "hcm-residence"},
        None,
    )


# --- rename --------------------------------------------------------------------------------------


def test_rename() -> None:
    out = run({"type": "rename", "fields": {"a": "x", "missing": "y"}}, {"a": 1, "b": 2})
    assert out == {"x": 1, "b": 2}
    assert list(out) == ["x", "b"]  # the record keeps its field order


def test_rename_can_swap_fields() -> None:
    assert run({"type": "rename", "fields": {"a": "b", "b": "a"}}, {"a": 1, "b": 2}) == {
        "b": 1,
        "a": 2,
    }


def test_rename_takes_a_dotted_column_name_literally() -> None:
    out = run({"type": "rename", "fields": {"address.street": "street"}}, {"address.street": "x"})
    assert out == {"street": "x"}


def test_rename_onto_a_field_the_record_has_is_an_error() -> None:
    message = failure([{"type": "rename", "fields": {"a": "b"}}], {"a": 1, "b": 2})
    assert message == "transforms[0] (rename): cannot rename 'a' to 'b': the record has both"


def test_rename_onto_a_field_renamed_away_is_fine() -> None:
    out = run({"type": "rename", "fields": {"a": "b", "b": "c"}}, {"a": 1, "b": 2})
    assert out == {"b": 1, "c": 2}


# --- drop ----------------------------------------------------------------------------------------


def test_drop() -> None:
    value = {"a": 1, "b": 2, "c": 3, "n": {"x": 1, "y": 2}, "s": "text", "z": None}
    out = run(
        {"type": "drop", "fields": ["a", "c", "n.x", "missing", "s.x", "z.x", "n.q.r"]}, value
    )
    assert out == {"b": 2, "n": {"y": 2}, "s": "text", "z": None}


def test_drop_a_whole_nested_object() -> None:
    assert run({"type": "drop", "fields": ["n"]}, {"n": {"x": 1}, "a": 1}) == {"a": 1}


# --- cast ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("int", "42", 42),
        ("int", " -7 ", -7),
        ("int", "+3", 3),
        ("int", "007", 7),
        ("int", "42.0", 42),
        ("int", "1e3", 1000),
        ("int", 3.0, 3),
        ("int", 5, 5),
        ("int", Decimal("12.00"), 12),
        ("int", True, 1),
        ("int", "123456789012345678901", 123456789012345678901),
        ("float", "1.5", 1.5),
        ("float", " -0.25 ", -0.25),
        ("float", "1e3", 1000.0),
        ("float", ".5", 0.5),
        ("float", 2, 2.0),
        ("float", 2.5, 2.5),
        ("float", Decimal("0.1"), 0.1),
        ("boolean", "true", True),
        ("boolean", "FALSE", False),
        ("boolean", "Yes", True),
        ("boolean", "no", False),
        ("boolean", " 1 ", True),
        ("boolean", "0", False),
        ("boolean", 1, True),
        ("boolean", 0, False),
        ("boolean", 1.0, True),
        ("boolean", False, False),
        ("string", "x", "x"),
        ("string", 42, "42"),
        ("string", -1.5, "-1.5"),
        ("string", True, "true"),
        ("string", Decimal("1.50"), "1.50"),
        ("string", date(2025, 3, 14), "2025-03-14"),
        ("string", datetime(2025, 3, 14, 9, 30, tzinfo=UTC), "2025-03-14T09:30:00+00:00"),
        ("string", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ("string", "Hà Nội".encode(), "Hà Nội"),
        ("string", {"ten": "Đà Nẵng", "n": [1, 2]}, '{"ten":"Đà Nẵng","n":[1,2]}'),
        ("date", "2025-03-14", "2025-03-14"),
        ("date", "14/03/2025", "2025-03-14"),
        ("date", "1/3/2025", "2025-03-01"),
        ("date", " 29/02/2024 ", "2024-02-29"),
        ("date", date(2025, 3, 14), "2025-03-14"),
        ("date", datetime(2025, 3, 14), "2025-03-14"),  # noqa: DTZ001 - Oracle's DATE
        ("timestamp", "2025-03-14T09:30:15+07:00", "2025-03-14T09:30:15+07:00"),
        ("timestamp", "2025-03-14T09:30:15", "2025-03-14T09:30:15Z"),
        ("timestamp", "2025-03-14T09:30:15Z", "2025-03-14T09:30:15Z"),
        ("timestamp", "2025-03-14T09:30:15+00:00", "2025-03-14T09:30:15Z"),
        ("timestamp", "2025-03-14T09:30:15.123+07:00", "2025-03-14T09:30:15.123+07:00"),
        ("timestamp", "2025-03-14T09:30:15.5Z", "2025-03-14T09:30:15.500Z"),
        ("timestamp", "2025-03-14T09:30:15.123456-05:00", "2025-03-14T09:30:15.123456-05:00"),
        ("timestamp", "2025-03-14 09:30:15", "2025-03-14T09:30:15Z"),
        ("timestamp", "2025-03-14T09:30", "2025-03-14T09:30:00Z"),
        ("timestamp", "2025-03-14", "2025-03-14T00:00:00Z"),
        (
            "timestamp",
            datetime(2025, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=7))),
            "2025-03-14T09:30:00+07:00",
        ),
        ("timestamp", datetime(2025, 3, 14, 9, 30), "2025-03-14T09:30:00Z"),  # noqa: DTZ001 - naive is UTC
        ("timestamp", date(2025, 3, 14), "2025-03-14T00:00:00Z"),
        ("decimal", "1.50", "1.50"),
        ("decimal", " -12345678901234567890.123456789 ", "-12345678901234567890.123456789"),
        ("decimal", "1e2", "100"),
        ("decimal", "2.5E-3", "0.0025"),
        ("decimal", 0.1, "0.1"),
        ("decimal", 3, "3"),
        ("decimal", Decimal("7.25"), "7.25"),
    ],
)
def test_cast(kind: str, given: Any, expected: Any) -> None:
    result = cast(kind, given)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("kind", "given", "shown", "reason"),
    [
        ("int", "4.5", "string '4.5'", ": not a whole number"),
        ("int", 4.5, "number 4.5", ": not a whole number"),
        ("int", "abc", "string 'abc'", ": not a number"),
        ("int", "", "string ''", ": not a number"),
        ("int", "1_000", "string '1_000'", ": not a number"),
        ("int", "1,000", "string '1,000'", ": not a number"),
        ("int", "nan", "string 'nan'", ": not a number"),
        ("int", "1e999999999", "string '1e999999999'", ": exponent out of range"),
        ("int", {"a": 1}, "object", ": not a number"),
        ("int", float("nan"), "number nan", ": not a finite number"),
        ("float", "inf", "string 'inf'", ": not a number"),
        ("float", "1e400", "string '1e400'", ": not a finite number in a double's range"),
        ("float", "1,5", "string '1,5'", ": not a number"),
        ("float", [1], "array", ": not a number"),
        ("boolean", "maybe", "string 'maybe'", ": expected true/false, 1/0 or yes/no"),
        ("boolean", 2, "number 2", ": expected true/false, 1/0 or yes/no"),
        ("boolean", "", "string ''", ": expected true/false, 1/0 or yes/no"),
        ("string", b"\xff\xfe", "bytes", ": bytes that are not UTF-8 text"),
        ("string", object(), "object", ""),
        ("date", "31/02/2025", "string '31/02/2025'", ": day is out of range for month"),
        ("date", "2025-13-01", "string '2025-13-01'", ": month must be in 1..12"),
        ("date", "03-14-2025", "string '03-14-2025'", ": expected YYYY-MM-DD or dd/mm/yyyy"),
        ("date", "2025/03/14", "string '2025/03/14'", ": expected YYYY-MM-DD or dd/mm/yyyy"),
        ("date", "14/03/25", "string '14/03/25'", ": expected YYYY-MM-DD or dd/mm/yyyy"),
        ("date", 20250314, "number 20250314", ": expected YYYY-MM-DD or dd/mm/yyyy"),
        (
            "date",
            datetime(2025, 3, 14, 10, tzinfo=UTC),
            "datetime",
            ": has a time of day or a UTC offset",
        ),
        (
            "timestamp",
            "yesterday",
            "string 'yesterday'",
            ": expected ISO 8601, e.g. 2025-03-14T09:30:15+07:00",
        ),
        (
            "timestamp",
            "14/03/2025 09:30",
            "string '14/03/2025 09:30'",
            ": expected ISO 8601, e.g. 2025-03-14T09:30:15+07:00",
        ),
        (
            "timestamp",
            "2025-03-14T09:30:15.1234567Z",
            "string '2025-03-14T09:30:15.1234567Z'",
            ": finer than microseconds",
        ),
        ("timestamp", 1741944615, "number 1741944615", ""),
        ("decimal", "abc", "string 'abc'", ": not a number"),
        ("decimal", "NaN", "string 'NaN'", ": not a number"),
        ("decimal", Decimal("Infinity"), "Decimal", ": not a finite number"),
        ("decimal", "1,5", "string '1,5'", ": not a number"),
    ],
)
def test_a_value_that_cannot_be_cast(kind: str, given: Any, shown: str, reason: str) -> None:
    message = failure([{"type": "cast", "fields": {"f": kind}}], {"f": given})
    assert message == f"transforms[0] (cast): field 'f': cannot cast {shown} to {kind}{reason}"


def test_a_long_bad_value_is_truncated_in_the_message() -> None:
    value = "x" * 39 + "0123456789" * 100
    message = failure([{"type": "cast", "fields": {"n.f": "int"}}], {"n": {"f": value}})
    assert message.startswith("transforms[0] (cast): field 'n.f': cannot cast string 'xxx")
    assert "x" * 39 + "0…' to int" in message
    assert "0123456789" not in message
    assert len(message) < 150


@pytest.mark.parametrize(
    "kind", ["int", "float", "boolean", "string", "date", "timestamp", "decimal"]
)
def test_null_and_missing_fields_are_not_cast(kind: str) -> None:
    chain = build_transforms([{"type": "cast", "fields": {"f": kind, "g": kind, "n.f": kind}}])
    assert chain.apply({"f": None, "n": None}, None)[0] == {"f": None, "n": None}
    assert chain.apply({"n": {}}, None)[0] == {"n": {}}


def test_cast_values_are_what_the_contract_accepts() -> None:
    """A CSV row (all strings) cast to the contract's types encodes, and reads back as meant."""
    schema = {
        "type": "record",
        "name": "Payment",
        "namespace": "vn.gov.test",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "score", "type": "double"},
            {"name": "active", "type": "boolean"},
            {"name": "born", "type": {"type": "int", "logicalType": "date"}},
            {"name": "seen", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            },
            {"name": "note", "type": ["null", "string"]},
        ],
    }
    contract = compile_contract(1, schema)
    chain = build_transforms(
        [
            {
                "type": "cast",
                "fields": {
                    "id": "int",
                    "score": "float",
                    "active": "boolean",
                    "born": "date",
                    "seen": "timestamp",
                    "amount": "decimal",
                    "note": "string",
                },
            }
        ]
    )
    row = {
        "id": "1001",
        "score": "9.75",
        "active": "yes",
        "born": "05/11/1988",
        "seen": "2025-03-14T09:30:15.250+07:00",
        "amount": "1500000.50",
        "note": None,
    }
    value, _ = chain.apply(row, None)
    assert to_json(contract, decode(encode(contract, value), contract)) == {
        "id": 1001,
        "score": 9.75,
        "active": True,
        "born": "1988-11-05",
        "seen": "2025-03-14T02:30:15.250Z",
        "amount": "1500000.50",
        "note": None,
    }


# --- mask ----------------------------------------------------------------------------------------


def test_mask_keeps_the_last_characters() -> None:
    spec = {"type": "mask", "fields": ["phone", "card"], "keep_last": 4, "char": "*"}
    out = run(spec, {"phone": "0912345678", "card": 4111111111111111, "other": "x"})
    assert out == {"phone": "******5678", "card": "************1111", "other": "x"}


def test_mask_everything_by_default() -> None:
    assert run({"type": "mask", "fields": ["p"]}, {"p": "secret"}) == {"p": "******"}


def test_mask_a_value_no_longer_than_what_is_kept() -> None:
    spec = {"type": "mask", "fields": ["a", "b", "c"], "keep_last": 4}
    out = run(spec, {"a": "123", "b": "1234", "c": ""})
    assert out == {"a": "123", "b": "1234", "c": ""}


def test_mask_counts_vietnamese_characters_not_bytes() -> None:
    name = "Nguyễn Văn Ánh"
    assert len(name.encode()) > len(name)
    spec = {"type": "mask", "fields": ["name", "street"], "keep_last": 3, "char": "•"}
    out = run(spec, {"name": name, "street": "Đường Lê Lợi"})
    assert out == {"name": "•" * 11 + "Ánh", "street": "•" * 9 + "Lợi"}


def test_mask_is_the_same_for_decomposed_vietnamese_text() -> None:
    """Text from some systems comes decomposed (NFD): ``ễ`` as e + two combining marks."""
    composed = "Nguyễn Thị Hường"
    decomposed = unicodedata.normalize("NFD", composed)
    assert len(decomposed) > len(composed)
    spec = {"type": "mask", "fields": ["name"], "keep_last": 5}
    expected = {"name": "*" * 11 + "Hường"}
    assert run(spec, {"name": composed}) == expected
    assert run(spec, {"name": decomposed}) == expected


def test_mask_nested_null_and_missing_fields() -> None:
    spec = {"type": "mask", "fields": ["a.phone", "b", "c"], "keep_last": 2}
    out = run(spec, {"a": {"phone": "0912345678", "x": 1}, "b": None})
    assert out == {"a": {"phone": "********78", "x": 1}, "b": None}


# --- hash ----------------------------------------------------------------------------------------


def hmac_hex(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_hash_is_hmac_sha256_with_the_key() -> None:
    spec = {"type": "hash", "fields": ["citizen_id", "holder.citizen_id"], "key": KEY}
    value = {"citizen_id": "001090012345", "holder": {"citizen_id": "079188000001"}, "x": 1}
    out = run(spec, value)
    assert out == {
        "citizen_id": hmac_hex(KEY, "001090012345"),
        "holder": {"citizen_id": hmac_hex(KEY, "079188000001")},
        "x": 1,
    }
    assert re.fullmatch(r"[0-9a-f]{64}", out["citizen_id"])
    assert out["citizen_id"] != hashlib.sha256(b"001090012345").hexdigest()


def test_hash_joins_across_sources_but_not_across_keys() -> None:
    spec = {"type": "hash", "fields": ["id"], "key": KEY}
    from_csv = run(spec, {"id": "123456789012"})
    from_sql = run(spec, {"id": 123456789012})
    assert from_csv == from_sql
    other_key = run({**spec, "key": KEY + "-other"}, {"id": "123456789012"})
    assert other_key != from_csv


def test_hash_of_vietnamese_text_does_not_depend_on_its_unicode_form() -> None:
    spec = {"type": "hash", "fields": ["name"], "key": KEY}
    name = "Phạm Thị Thu Hương"
    decomposed = run(spec, {"name": unicodedata.normalize("NFD", name)})
    assert run(spec, {"name": name}) == decomposed == {"name": hmac_hex(KEY, name)}


def test_hash_leaves_null_and_missing_fields() -> None:
    spec = {"type": "hash", "fields": ["a", "b"], "key": KEY}
    assert run(spec, {"a": None}) == {"a": None}


def test_hash_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"NDXP_TEST_HASH_KEY_{uuid.uuid4().hex}"
    secret = f"from-env-{uuid.uuid4().hex}"
    monkeypatch.setenv(name, secret)
    chain = build_transforms([{"type": "hash", "fields": ["id"], "key": f"${{env:{name}}}"}])
    # Read once, when the chain is built: a later change does not reach a running connector.
    monkeypatch.setenv(name, "changed-later-0123456789")
    assert chain.apply({"id": "001090012345"}, None)[0] == {"id": hmac_hex(secret, "001090012345")}


def test_hash_key_from_an_unset_environment_variable() -> None:
    name = f"NDXP_TEST_UNSET_{uuid.uuid4().hex}"
    message = spec_error([{"type": "hash", "fields": ["id"], "key": f"${{env:{name}}}"}])
    assert message == f"transforms[0] (hash): key: the environment variable {name} is not set"


def test_the_hash_key_is_never_shown() -> None:
    secret = f"short-{uuid.uuid4().hex[:4]}"
    message = spec_error([{"type": "hash", "fields": ["id"], "key": secret, "extra": 1}])
    assert secret not in message
    chain = build_transforms([{"type": "hash", "fields": ["id"], "key": KEY}])
    assert KEY not in repr(chain)


# --- key -----------------------------------------------------------------------------------------


def test_key_from_fields() -> None:
    chain = build_transforms([{"type": "key", "fields": ["province", "id"], "separator": ":"}])
    value = {"province": "HN", "id": 42}
    assert chain.apply(value, None) == (value, "HN:42")
    assert chain.apply(value, "old-key") == (value, "HN:42")


def test_key_with_the_default_separator_nested_fields_and_one_field() -> None:
    value = {"address": {"province": "Đà Nẵng"}, "id": "7", "active": True}
    two = build_transforms([{"type": "key", "fields": ["address.province", "id", "active"]}])
    assert two.apply(value, None)[1] == "Đà Nẵng:7:true"
    one = build_transforms([{"type": "key", "fields": ["id"], "separator": ""}])
    assert one.apply(value, None)[1] == "7"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"id": 1}, "key field 'address.province' is missing"),
        ({"id": 1, "address": None}, "key field 'address.province' is missing"),
        ({"id": 1, "address": {"province": None}}, "key field 'address.province' is null"),
        (
            {"id": 1, "address": {"province": {"x": 1}}},
            "key field 'address.province' is object, not a value",
        ),
        (
            {"id": 1, "address": {"province": ["HN"]}},
            "key field 'address.province' is array, not a value",
        ),
        (
            {"id": 1, "address": {"province": b"\xff"}},
            "field 'address.province': cannot make a key of bytes: bytes that are not UTF-8 text",
        ),
    ],
)
def test_key_from_a_field_that_is_not_there(value: dict[str, Any], problem: str) -> None:
    message = failure([{"type": "key", "fields": ["id", "address.province"]}], value)
    assert message == f"transforms[0] (key): {problem}"


# --- insert --------------------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["hcm", 7, 1.5, True, None, ["a"], {"system": "hcm", "v": 2}])
def test_insert_a_constant(constant: Any) -> None:
    chain = build_transforms([{"type": "insert", "field": "source_system", "value": constant}])
    assert chain.apply({"a": 1}, "k") == ({"a": 1, "source_system": constant}, "k")


def test_insert_overwrites_a_field() -> None:
    assert run({"type": "insert", "field": "a", "value": 2}, {"a": 1}) == {"a": 2}


def test_an_inserted_object_is_not_shared_between_records() -> None:
    chain = build_transforms([{"type": "insert", "field": "meta", "value": {"tags": ["x"]}}])
    first, _ = chain.apply({}, None)
    first["meta"]["tags"].append("changed")
    second, _ = chain.apply({}, None)
    assert second == {"meta": {"tags": ["x"]}}


def test_insert_the_time_the_record_passes() -> None:
    chain = build_transforms([{"type": "insert", "field": "ingested_at", "timestamp": True}])
    before = datetime.now(UTC)
    out, _ = chain.apply({"a": 1}, None)
    after = datetime.now(UTC)
    stamp = out["ingested_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    moment = datetime.fromisoformat(stamp)
    assert before - timedelta(milliseconds=1) <= moment <= after
    assert out["a"] == 1


# --- bad specs -----------------------------------------------------------------------------------

TYPES = "rename, drop, cast, mask, hash, key, insert"


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ({"type": "drop"}, "transforms must be a list of objects, got object"),
        ("drop", "transforms must be a list of objects, got string 'drop'"),
        (
            [{"type": "drop", "fields": ["a"]}, "x"],
            "transforms[1] must be an object with a 'type', got string 'x'",
        ),
        ([{}], f"transforms[0]: 'type' is required, one of {TYPES}"),
        ([{"fields": ["a"]}], f"transforms[0]: 'type' is required, one of {TYPES}"),
        (
            [{"type": "explode"}],
            f"transforms[0] (explode): unknown type 'explode', expected one of {TYPES}",
        ),
        ([{"type": 3}], f"transforms[0]: unknown type '3', expected one of {TYPES}"),
        (
            [{"type": "drop", "fields": ["a"], "feilds": ["b"]}],
            "transforms[0] (drop): unknown key 'feilds'",
        ),
        ([{"type": "drop"}], "transforms[0] (drop): fields: Field required"),
        (
            [{"type": "drop", "fields": []}],
            "transforms[0] (drop): fields: List should have at least 1 item after validation, "
            "not 0",
        ),
        (
            [{"type": "drop", "fields": "a"}],
            "transforms[0] (drop): fields: Input should be a valid list",
        ),
        (
            [{"type": "drop", "fields": ["a", "b..c"]}],
            "transforms[0] (drop): fields.1: 'b..c' is not a field name or a dotted path like "
            "'address.street'",
        ),
        (
            [{"type": "cast", "fields": {"a": "integer"}}],
            "transforms[0] (cast): fields.a: Input should be 'int', 'float', 'boolean', 'string', "
            "'date', 'timestamp' or 'decimal'",
        ),
        (
            [{"type": "cast", "fields": ["a"]}],
            "transforms[0] (cast): fields: Input should be a valid dictionary",
        ),
        (
            [{"type": "rename", "fields": {"a": "x", "b": "x"}}],
            "transforms[0] (rename): fields: several fields renamed to 'x'",
        ),
        (
            [{"type": "rename", "fields": {"a": "b.c"}}],
            "transforms[0] (rename): fields.a: 'b.c' is not a top-level field name (no '.')",
        ),
        (
            [{"type": "rename", "fields": {"a": ""}}],
            "transforms[0] (rename): fields.a: '' is not a top-level field name (no '.')",
        ),
        (
            [{"type": "mask", "fields": ["a"], "keep_last": -1}],
            "transforms[0] (mask): keep_last: Input should be greater than or equal to 0",
        ),
        (
            [{"type": "mask", "fields": ["a"], "keep_last": "4"}],
            "transforms[0] (mask): keep_last: Input should be a valid integer",
        ),
        (
            [{"type": "mask", "fields": ["a"], "char": "**"}],
            "transforms[0] (mask): char: String should have at most 1 character",
        ),
        (
            [{"type": "mask", "fields": ["a"], "char": ""}],
            "transforms[0] (mask): char: String should have at least 1 character",
        ),
        ([{"type": "hash", "fields": ["a"]}], "transforms[0] (hash): key: Field required"),
        (
            [{"type": "hash", "fields": ["a"], "key": "secret"}],
            "transforms[0] (hash): key: must be at least 16 characters: a short key is guessed",
        ),
        (
            [{"type": "hash", "fields": ["a"], "key": "${env:}"}],
            "transforms[0] (hash): key: '' is not an environment variable name",
        ),
        (
            [{"type": "hash", "fields": ["a"], "key": "${env:A-B}"}],
            "transforms[0] (hash): key: 'A-B' is not an environment variable name",
        ),
        (
            [{"type": "key", "fields": []}],
            "transforms[0] (key): fields: List should have at least 1 item after validation, not 0",
        ),
        (
            [{"type": "key", "fields": ["a"], "separator": 1}],
            "transforms[0] (key): separator: Input should be a valid string",
        ),
        (
            [{"type": "insert", "field": "a"}],
            "transforms[0] (insert): give exactly one of 'value' and 'timestamp': true",
        ),
        (
            [{"type": "insert", "field": "a", "value": 1, "timestamp": True}],
            "transforms[0] (insert): give exactly one of 'value' and 'timestamp': true",
        ),
        (
            [{"type": "insert", "field": "a", "timestamp": False}],
            "transforms[0] (insert): give exactly one of 'value' and 'timestamp': true",
        ),
        (
            [{"type": "insert", "field": "a", "timestamp": "yes"}],
            "transforms[0] (insert): timestamp: Input should be a valid boolean",
        ),
        ([{"type": "insert", "value": 1}], "transforms[0] (insert): field: Field required"),
        (
            [{"type": "insert", "field": "meta.source", "value": 1}],
            "transforms[0] (insert): field: 'meta.source' is not a top-level field name (no '.')",
        ),
        (
            [{"type": "drop", "fields": ["a"]}, {"type": "mask", "fields": [""], "keep_last": -2}],
            "transforms[1] (mask): fields.0: '' is not a field name or a dotted path like "
            "'address.street'; keep_last: Input should be greater than or equal to 0",
        ),
    ],
)
def test_a_bad_spec_is_a_value_error_naming_the_transform(specs: Any, message: str) -> None:
    assert spec_error(specs) == message
