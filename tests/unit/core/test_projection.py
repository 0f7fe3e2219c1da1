"""What a consumer may receive: derived reader schemas and record projections."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from services.core.avro.codec import compile_contract, decode, encode, to_json
from services.core.avro.projection import (
    UnknownFields,
    compile_projection,
    derive_reader_schema,
    granted_fields_default,
    pii_fields_in,
)
from services.core.errors import Unprocessable
from services.registry.compatibility import reader_writer_incompatibilities
from tests.unit.core.contract_samples import JSON_SAMPLES

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def load(relative: str) -> Any:
    return json.loads((SCHEMAS / relative).read_text(encoding="utf-8"))


RESIDENCE = load("mps/residence-changes.avsc")
CARDS = load("vss/health-insurance-cards.avsc")


def field_names(schema: Any) -> list[str]:
    return [field["name"] for field in schema["fields"]]


def field(schema: Any, name: str) -> Any:
    return next(f for f in schema["fields"] if f["name"] == name)


def assert_delivers_exactly(
    writer: Any, granted: Any, record: dict[str, Any], named: Any = None
) -> dict[str, Any]:
    """The derived schema is valid Avro, a compatible reader of the writer, and reading a real
    payload with it gives what projecting the record's dict gives."""
    named = named or {}
    projection = compile_projection(writer, granted, named=named)
    reader = projection.reader_schema
    fastavro.parse_schema(copy.deepcopy(reader))
    assert reader_writer_incompatibilities(reader, writer, writer_named=named) == []
    writer_contract = compile_contract(1, writer, named)
    reader_contract = compile_contract(2, reader)
    payload = encode(writer_contract, record)
    read = decode(payload, writer_contract, reader_contract)
    assert projection.project(decode(payload, writer_contract)) == read
    as_json = to_json(reader_contract, read)
    assert projection.project(to_json(writer_contract, decode(payload, writer_contract))) == as_json
    return as_json


# --- what is granted ----------------------------------------------------------------------------


def test_no_grant_list_means_every_field_that_is_not_personal_data() -> None:
    reader = derive_reader_schema(RESIDENCE, None)
    assert field_names(reader) == [
        "event_id",
        "change_type",
        "effective_date",
        "authority_code",
        "recorded_at",
    ]
    delivered = assert_delivers_exactly(RESIDENCE, None, JSON_SAMPLES["mps/residence-changes.avsc"])
    assert delivered == {
        "event_id": "0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44",
        "change_type": "PERMANENT_REGISTRATION",
        "effective_date": "2025-03-14",
        "authority_code": "CAP-79-26734",
        "recorded_at": "2025-03-14T02:30:15.123Z",
    }
    assert granted_fields_default(RESIDENCE) == field_names(reader)


def test_personal_data_is_delivered_only_when_named() -> None:
    record = JSON_SAMPLES["vss/health-insurance-cards.avsc"]
    delivered = assert_delivers_exactly(CARDS, ["card_number", "status", "valid_to"], record)
    assert delivered == {
        "card_number": "DN4010123456789",
        "status": "ACTIVE",
        "valid_to": "2025-12-31",
    }
    sensitive = assert_delivers_exactly(CARDS, ["status", "last_claim_diagnosis"], record)
    assert sensitive == {"status": "ACTIVE", "last_claim_diagnosis": "J06.9"}
    everything_open = derive_reader_schema(CARDS, None)
    assert "chronic_condition_codes" not in field_names(everything_open)
    assert "holder_name" not in field_names(everything_open)
    assert pii_fields_in(["card_number", "status", "chronic_condition_codes"], CARDS) == {
        "card_number": "basic",
        "chronic_condition_codes": "sensitive",
    }
    assert pii_fields_in(None, CARDS) == {}


def test_naming_a_nested_record_grants_its_fields_that_are_not_personal_data() -> None:
    record = JSON_SAMPLES["mps/residence-changes.avsc"]
    delivered = assert_delivers_exactly(RESIDENCE, ["event_id", "new_address"], record)
    assert delivered == {
        "event_id": "0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44",
        "new_address": {"province_code": "79", "district_code": None, "ward_code": "26734"},
    }
    with_street = assert_delivers_exactly(RESIDENCE, ["new_address", "new_address.street"], record)
    assert with_street == {"new_address": JSON_SAMPLES["mps/residence-changes.avsc"]["new_address"]}


def test_a_dotted_path_grants_only_that_sub_field() -> None:
    record = JSON_SAMPLES["mps/residence-changes.avsc"]
    delivered = assert_delivers_exactly(RESIDENCE, ["new_address.province_code"], record)
    assert delivered == {"new_address": {"province_code": "79"}}
    moved_out = record | {"new_address": None}
    assert assert_delivers_exactly(RESIDENCE, ["new_address.province_code"], moved_out) == {
        "new_address": None
    }
    assert pii_fields_in(["new_address.province_code"], RESIDENCE) == {"new_address": "basic"}


def test_one_named_type_projected_two_ways_gets_a_second_name_with_an_alias() -> None:
    record = JSON_SAMPLES["mps/residence-changes.avsc"]
    granted = ["old_address.province_code", "new_address", "new_address.street"]
    reader = derive_reader_schema(RESIDENCE, granted)
    old, new = field(reader, "old_address")["type"][1], field(reader, "new_address")["type"][1]
    assert (old["name"], field_names(old)) == ("Address", ["province_code"])
    assert new["name"] == "Address_2"
    assert new["aliases"] == ["vn.gov.mps.Address"]
    assert field_names(new) == ["province_code", "district_code", "ward_code", "street"]
    delivered = assert_delivers_exactly(RESIDENCE, granted, record)
    assert delivered["old_address"] == {"province_code": "01"}
    assert delivered["new_address"] == record["new_address"]


def test_one_named_type_projected_the_same_way_is_defined_once() -> None:
    reader = derive_reader_schema(RESIDENCE, ["old_address", "new_address"])
    assert field(reader, "old_address")["type"][1]["name"] == "Address"
    assert field(reader, "new_address")["type"] == ["null", "vn.gov.mps.Address"]


def test_a_type_defined_in_a_field_that_is_not_granted_moves_to_its_first_use() -> None:
    reader = derive_reader_schema(RESIDENCE, ["new_address.ward_code"])
    assert field_names(reader) == ["new_address"]
    address = field(reader, "new_address")["type"][1]
    assert address["type"] == "record"
    assert address["name"] == "Address"
    assert field_names(address) == ["ward_code"]


def test_unknown_paths_are_all_named_in_one_error() -> None:
    with pytest.raises(UnknownFields) as caught:
        derive_reader_schema(RESIDENCE, ["citizen_id", "nope", "new_address.x", "citizen_id.y", ""])
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, Unprocessable)
    assert error.paths == ("", "citizen_id.y", "new_address.x", "nope")
    assert {"path": "nope", "reason": "unknown field"} in error.errors
    with pytest.raises(TypeError):
        derive_reader_schema(RESIDENCE, "citizen_id")


def test_the_derived_schema_keeps_docs_pii_tags_names_and_order() -> None:
    reader = derive_reader_schema(RESIDENCE, ["recorded_at", "citizen_id", "event_id"])
    assert (reader["name"], reader["namespace"], reader["doc"]) == (
        "ResidenceChange",
        "vn.gov.mps",
        RESIDENCE["doc"],
    )
    assert reader["fields"] == [
        field(RESIDENCE, "event_id"),
        field(RESIDENCE, "citizen_id"),
        field(RESIDENCE, "recorded_at"),
    ]


def test_the_derived_schema_is_deterministic() -> None:
    granted = ["new_address.province_code", "citizen_id", "old_address", "old_address.street"]
    first = json.dumps(derive_reader_schema(RESIDENCE, granted))
    again = json.dumps(derive_reader_schema(copy.deepcopy(RESIDENCE), list(reversed(granted))))
    duplicated = json.dumps(derive_reader_schema(RESIDENCE, {*granted, "citizen_id"}))
    assert first == again == duplicated
    everything = granted_fields_default(RESIDENCE)
    assert json.dumps(derive_reader_schema(RESIDENCE, everything)) == json.dumps(
        derive_reader_schema(RESIDENCE, None)
    )


def test_an_empty_grant_delivers_an_empty_record() -> None:
    record = JSON_SAMPLES["mps/residence-changes.avsc"]
    assert assert_delivers_exactly(RESIDENCE, [], record) == {}


@pytest.mark.parametrize("contract_file", sorted(JSON_SAMPLES))
@pytest.mark.parametrize("grant", ["default", "everything"])
def test_every_sample_contract_projects_consistently(contract_file: str, grant: str) -> None:
    from services.core.avro.pii import field_catalogue  # noqa: PLC0415

    writer = load(contract_file)
    granted = None if grant == "default" else [row["path"] for row in field_catalogue(writer)]
    delivered = assert_delivers_exactly(writer, granted, JSON_SAMPLES[contract_file])
    if grant == "everything":
        assert delivered == JSON_SAMPLES[contract_file]


# --- arrays, maps, unions, references, recursion ------------------------------------------------

VISITS = {
    "type": "record",
    "name": "Patient",
    "namespace": "vn.gov.test",
    "fields": [
        {"name": "id", "type": "string"},
        {
            "name": "visits",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Visit",
                    "fields": [
                        {"name": "at", "type": "long"},
                        {"name": "facility", "type": "string"},
                        {
                            "name": "diagnosis",
                            "type": ["null", "string"],
                            "default": None,
                            "pii": "sensitive",
                        },
                    ],
                },
            },
            "default": [{"at": 1, "facility": "01001", "diagnosis": "J06.9"}],
        },
        {"name": "by_code", "type": {"type": "map", "values": "Visit"}, "default": {}},
        {
            "name": "contact",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Phone",
                    "fields": [
                        {"name": "number", "type": "string", "pii": "basic"},
                        {"name": "kind", "type": "string"},
                    ],
                },
                {
                    "type": "record",
                    "name": "Email",
                    "fields": [
                        {"name": "address", "type": "string", "pii": "basic"},
                        {"name": "verified", "type": "boolean"},
                    ],
                },
            ],
            "default": None,
        },
    ],
}
PATIENT = {
    "id": "P1",
    "visits": [
        {"at": 1, "facility": "01001", "diagnosis": "J06.9"},
        {"at": 2, "facility": "01002", "diagnosis": None},
    ],
    "by_code": {"a": {"at": 3, "facility": "01003", "diagnosis": "E11"}},
    "contact": {"vn.gov.test.Email": {"address": "lan@example.vn", "verified": True}},
}


def test_arrays_maps_and_unions_of_records_are_projected() -> None:
    delivered = assert_delivers_exactly(VISITS, None, PATIENT)
    assert delivered == {
        "id": "P1",
        "visits": [{"at": 1, "facility": "01001"}, {"at": 2, "facility": "01002"}],
        "by_code": {"a": {"at": 3, "facility": "01003"}},
        "contact": {"verified": True},
    }
    phone = PATIENT | {"contact": {"number": "0901234567", "kind": "mobile"}}
    assert assert_delivers_exactly(VISITS, ["contact", "contact.number"], phone) == {
        "contact": {"number": "0901234567", "kind": "mobile"}
    }
    assert assert_delivers_exactly(VISITS, ["visits.diagnosis"], PATIENT) == {
        "visits": [{"diagnosis": "J06.9"}, {"diagnosis": None}]
    }


def test_defaults_of_projected_records_are_projected_too() -> None:
    reader = derive_reader_schema(VISITS, None)
    assert field(reader, "visits")["default"] == [{"at": 1, "facility": "01001"}]
    writer_contract, reader_contract = compile_contract(1, VISITS), compile_contract(2, reader)
    assert encode(reader_contract, {"id": "x"})  # the projected default is valid for the reader
    old = compile_contract(3, {**VISITS, "fields": VISITS["fields"][:1]})
    assert to_json(reader_contract, decode(encode(old, {"id": "x"}), old, reader_contract)) == {
        "id": "x",
        "visits": [{"at": 1, "facility": "01001"}],
        "by_code": {},
        "contact": None,
    }
    assert writer_contract.schema_id == 1


def test_referenced_types_are_written_inline() -> None:
    address = {
        "type": "record",
        "name": "Address",
        "namespace": "vn.gov.common",
        "fields": [
            {"name": "ward_code", "type": "string"},
            {"name": "street", "type": "string", "pii": "basic"},
        ],
    }
    writer = {
        "type": "record",
        "name": "Site",
        "namespace": "vn.gov.test",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "at", "type": "vn.gov.common.Address"},
        ],
    }
    named = {"vn.gov.common.Address": address}
    reader = derive_reader_schema(writer, None, named=named)
    assert field(reader, "at")["type"] == {
        "type": "record",
        "name": "Address",
        "namespace": "vn.gov.common",
        "fields": [{"name": "ward_code", "type": "string"}],
    }
    record = {"id": "S1", "at": {"ward_code": "00004", "street": "1 Tràng Tiền"}}
    delivered = assert_delivers_exactly(writer, None, record, named)
    assert delivered == {"id": "S1", "at": {"ward_code": "00004"}}


def test_recursive_types_are_projected() -> None:
    writer = {
        "type": "record",
        "name": "Unit",
        "fields": [
            {"name": "code", "type": "string"},
            {"name": "head", "type": "string", "pii": "basic"},
            {"name": "children", "type": {"type": "array", "items": "Unit"}, "default": []},
        ],
    }
    tree = {
        "code": "01",
        "head": "A",
        "children": [{"code": "001", "head": "B", "children": [{"code": "00004", "head": "C"}]}],
    }
    assert assert_delivers_exactly(writer, None, tree) == {
        "code": "01",
        "children": [{"code": "001", "children": [{"code": "00004", "children": []}]}],
    }
    assert assert_delivers_exactly(writer, ["code", "children.head"], tree) == {
        "code": "01",
        "children": [{"head": "B"}],
    }


def test_a_writer_that_is_not_a_record_is_refused() -> None:
    with pytest.raises(ValueError, match="not a record"):
        derive_reader_schema("string", None)


def test_two_grants_that_mean_the_same_share_one_type() -> None:
    granted = ["old_address", "new_address", "new_address.ward_code"]
    reader = derive_reader_schema(RESIDENCE, granted)
    assert field(reader, "new_address")["type"] == ["null", "vn.gov.mps.Address"]
