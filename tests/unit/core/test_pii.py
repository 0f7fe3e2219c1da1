"""PII tags on contract fields and the field catalogue."""

from __future__ import annotations

import copy
from typing import Any

import fastavro
import pytest

from services.core.avro.pii import PII_CLASSES, field_catalogue, pii_fields, type_label

ADDRESS = {
    "type": "record",
    "name": "Address",
    "doc": "An address.",
    "fields": [
        {"name": "ward_code", "type": "string", "doc": "Ward."},
        {"name": "street", "type": "string", "pii": "basic", "doc": "Street."},
    ],
}


def person() -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Person",
        "namespace": "vn.gov.mps",
        "doc": "A person.",
        "fields": [
            {"name": "citizen_id", "type": "string", "pii": "basic", "doc": "Identity number."},
            {"name": "home", "type": copy.deepcopy(ADDRESS), "pii": "basic", "doc": "Home."},
            {"name": "work", "type": ["null", "Address"], "default": None, "doc": "Work."},
            {
                "name": "visits",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "Visit",
                        "doc": "A visit.",
                        "fields": [
                            {"name": "at", "type": "long", "doc": "When."},
                            {
                                "name": "diagnosis",
                                "type": ["null", "string"],
                                "default": None,
                                "pii": "sensitive",
                                "doc": "ICD-10 code.",
                            },
                        ],
                    },
                },
                "default": [],
                "doc": "Visits.",
            },
            {
                "name": "notes",
                "type": {"type": "map", "values": "vn.gov.mps.Visit"},
                "doc": "Visits by note id.",
            },
            {"name": "office", "type": "string", "pii": None, "doc": "Reviewed: not personal."},
        ],
    }


EXPECTED = {
    "citizen_id": "basic",
    "home": "basic",
    "home.street": "basic",
    "work.street": "basic",
    "visits.diagnosis": "sensitive",
    "notes.diagnosis": "sensitive",
}


def test_pii_classes() -> None:
    assert PII_CLASSES == ("basic", "sensitive")


def test_pii_fields_follow_nested_records_arrays_maps_unions_and_references() -> None:
    assert pii_fields(person()) == EXPECTED


def test_pii_fields_read_fastavros_parsed_form_too() -> None:
    assert pii_fields(fastavro.parse_schema(person())) == EXPECTED


def test_a_schema_without_pii_has_no_pii_fields() -> None:
    assert (
        pii_fields({"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}]}) == {}
    )
    assert pii_fields("string") == {}


def test_a_recursive_type_is_expanded_once_per_branch() -> None:
    schema = {
        "type": "record",
        "name": "Household",
        "fields": [
            {"name": "head_name", "type": "string", "pii": "basic"},
            {"name": "members", "type": {"type": "array", "items": "Household"}},
            {"name": "parent", "type": ["null", "Household"], "default": None},
        ],
    }
    assert pii_fields(schema) == {"head_name": "basic"}
    assert [row["path"] for row in field_catalogue(schema)] == ["head_name", "members", "parent"]


def test_mutually_recursive_types_terminate() -> None:
    schema = {
        "type": "record",
        "name": "A",
        "fields": [
            {
                "name": "b",
                "type": {
                    "type": "record",
                    "name": "B",
                    "fields": [
                        {"name": "a", "type": ["null", "A"], "default": None},
                        {"name": "secret", "type": "string", "pii": "sensitive"},
                    ],
                },
            }
        ],
    }
    assert pii_fields(schema) == {"b.secret": "sensitive"}


def test_references_resolve_in_the_enclosing_namespace() -> None:
    schema = {
        "type": "record",
        "name": "Outer",
        "namespace": "a.b",
        "fields": [
            {
                "name": "first",
                "type": {
                    "type": "record",
                    "name": "Inner",
                    "namespace": "c.d",
                    "fields": [{"name": "x", "type": "string", "pii": "basic"}],
                },
            },
            {"name": "second", "type": "c.d.Inner"},
            {"name": "third", "type": {"type": "c.d.Inner"}},
        ],
    }
    assert pii_fields(schema) == {"first.x": "basic", "second.x": "basic", "third.x": "basic"}


def test_named_supplies_types_the_schema_only_references() -> None:
    schema = {
        "type": "record",
        "name": "Person",
        "namespace": "vn.gov.mps",
        "fields": [{"name": "home", "type": "vn.gov.common.Address"}],
    }
    assert pii_fields(schema) == {}
    named = {"vn.gov.common.Address": ADDRESS}
    assert pii_fields(schema, named) == {"home.street": "basic"}


@pytest.mark.parametrize("value", ["BASIC", "high", True, ""])
def test_an_unknown_pii_value_fails_closed_as_sensitive(value: Any) -> None:
    schema = {"type": "record", "name": "A", "fields": [{"name": "x", "type": "int", "pii": value}]}
    assert pii_fields(schema) == {"x": "sensitive"}


def test_field_catalogue_lists_every_path_with_type_doc_pii_and_default() -> None:
    rows = {row["path"]: row for row in field_catalogue(person())}
    assert list(rows) == [
        "citizen_id",
        "home",
        "home.ward_code",
        "home.street",
        "work",
        "work.ward_code",
        "work.street",
        "visits",
        "visits.at",
        "visits.diagnosis",
        "notes",
        "notes.at",
        "notes.diagnosis",
        "office",
    ]
    assert rows["citizen_id"] == {
        "path": "citizen_id",
        "type": "string",
        "doc": "Identity number.",
        "pii": "basic",
        "has_default": False,
        "default": None,
    }
    assert rows["work"]["type"] == "null|Address"
    assert rows["work"]["has_default"] is True
    assert rows["work"]["pii"] is None
    assert rows["visits"]["type"] == "array<Visit>"
    assert rows["visits"]["default"] == []
    assert rows["notes"]["type"] == "map<Visit>"
    assert rows["visits.diagnosis"]["pii"] == "sensitive"
    assert rows["office"]["pii"] is None


def test_a_field_without_doc_has_doc_none() -> None:
    schema = {"type": "record", "name": "A", "fields": [{"name": "x", "type": "int", "doc": ""}]}
    assert field_catalogue(schema)[0]["doc"] is None


@pytest.mark.parametrize(
    ("schema", "label"),
    [
        ("long", "long"),
        ("vn.gov.mps.Address", "Address"),
        ({"type": "int", "logicalType": "date"}, "date"),
        ({"type": "long", "logicalType": "timestamp-millis"}, "timestamp-millis"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 0}, "decimal(18,0)"),
        ({"type": "string", "logicalType": "uuid"}, "uuid"),
        ({"type": "array", "items": {"type": "map", "values": "double"}}, "array<map<double>>"),
        (["null", {"type": "enum", "name": "Kind", "symbols": ["A"]}], "null|Kind"),
        ({"type": "fixed", "name": "Hash", "size": 32}, "Hash"),
        ({"type": "string"}, "string"),
    ],
)
def test_type_labels(schema: Any, label: str) -> None:
    assert type_label(schema) == label
