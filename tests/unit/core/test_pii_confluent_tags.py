"""Personal data marked the Confluent way: ``confluent:tags`` on a field and ``metadata.tags``
paths, read by the one function that reads ndxp's ``pii`` attribute."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from services.core.avro.pii import pii_class, pii_fields, with_metadata_tags
from services.core.avro.projection import derive_reader_schema, granted_fields_default

ADDRESS = {
    "type": "record",
    "name": "Address",
    "namespace": "vn.gov.mps.shared",
    "fields": [
        {"name": "ward_code", "type": "string"},
        {"name": "street", "type": "string"},
    ],
}


ADDRESS_PATHS = ("home.ward_code", "home.street", "work.ward_code", "work.street")


def person() -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Person",
        "namespace": "vn.gov.mps",
        "fields": [
            {"name": "change_id", "type": "string"},
            {"name": "national_id", "type": "string", "confluent:tags": ["PII"]},
            {"name": "full_name", "type": "string"},
            {"name": "home", "type": ["null", "vn.gov.mps.shared.Address"], "default": None},
            {"name": "work", "type": {"type": "array", "items": ADDRESS}},
        ],
    }


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"confluent:tags": ["PII"]}, "sensitive"),  # no class given: fail closed
        ({"confluent:tags": ["pii", "GDPR"]}, "sensitive"),  # any case
        ({"confluent:tags": ["PII"], "pii": "basic"}, "basic"),  # ndxp's class refines it
        ({"confluent:tags": ["PII"], "pii": None}, "sensitive"),  # the tag wins over "not PII"
        ({"confluent:tags": ["GDPR"]}, None),
        ({"confluent:tags": "PII"}, None),  # not a list: Confluent reads no tags there
        ({"confluent:tags": [7, None]}, None),
        ({}, None),
    ],
)
def test_pii_class_reads_confluent_inline_tags(field: dict[str, Any], expected: str | None) -> None:
    assert pii_class({"name": "f", "type": "string", **field}) == expected


def test_inline_tags_make_fields_personal_data() -> None:
    assert pii_fields(person(), {}) == {"national_id": "sensitive"}


@pytest.mark.parametrize(
    ("path", "tagged"),
    [
        ("vn.gov.mps.Person.full_name", {"full_name"}),  # Confluent's full name
        ("Person.full_name", {"full_name"}),  # the record's short name
        ("**.full_name", {"full_name"}),
        ("vn.gov.*.Person.full_name", {"full_name"}),
        ("vn.gov.mps.Person.full_nam?", {"full_name"}),
        ("vn.*.full_name", set()),  # one * never crosses a dot
        ("vn.gov.mps.Person.*", {"change_id", "full_name", "home", "work"}),
        ("**.street", {"home.street", "work.street"}),  # in a union and in an array
        ("vn.gov.mps.shared.Address.street", {"home.street", "work.street"}),
        ("Person.full_name.x", set()),
        ("[a-z]+.full_name", set()),  # regular expression syntax is literal
        ("**.*", {"change_id", "full_name", "home", "work", *ADDRESS_PATHS}),
    ],
)
def test_metadata_tags_paths_match_as_confluent_globs(path: str, tagged: set[str]) -> None:
    writer, named = with_metadata_tags(
        person(), {"vn.gov.mps.shared.Address": ADDRESS}, {"tags": {path: ["PII"]}}
    )
    assert set(pii_fields(writer, named)) == {"national_id", *tagged}


def test_metadata_tags_reach_referenced_types_and_leave_the_input_alone() -> None:
    writer = person()
    writer["fields"][4]["type"]["items"] = "vn.gov.mps.shared.Address"
    writer["fields"][3]["type"] = ["null", ADDRESS]
    before, named = copy.deepcopy(writer), {"vn.gov.mps.shared.Address": ADDRESS}
    tagged, tagged_named = with_metadata_tags(writer, named, {"tags": {"**.street": ["PII"]}})
    assert writer == before and "confluent:tags" not in str(ADDRESS)
    assert set(pii_fields(tagged, tagged_named)) == {"national_id", "home.street", "work.street"}
    street = tagged["fields"][3]["type"][1]["fields"][1]
    assert street["confluent:tags"] == ["PII"]


def test_metadata_tags_merge_with_inline_ones() -> None:
    tags = {"tags": {"Person.national_id": ["PII", "GDPR"]}}
    writer, _ = with_metadata_tags(person(), {}, tags)
    assert writer["fields"][1]["confluent:tags"] == ["GDPR", "PII"]


@pytest.mark.parametrize(
    "metadata",
    [None, {}, {"tags": {}}, {"tags": "x"}, {"tags": {"Person.full_name": "PII"}}, "junk", 3],
)
def test_metadata_without_usable_tags_changes_nothing(metadata: Any) -> None:
    writer, named = with_metadata_tags(person(), {}, metadata)
    assert writer == person() and named == {}


def test_a_default_grant_leaves_confluent_tagged_fields_out() -> None:
    writer, named = with_metadata_tags(
        person(), {}, {"tags": {"vn.gov.mps.Person.full_name": ["PII"]}}
    )
    default = granted_fields_default(writer, named=named)
    assert default == ["change_id", "home", "work"]
    reader = derive_reader_schema(writer, None, named=named)
    assert [f["name"] for f in reader["fields"]] == ["change_id", "home", "work"]
    named_reader = derive_reader_schema(writer, ["change_id", "full_name"], named=named)
    assert [f["name"] for f in named_reader["fields"]] == ["change_id", "full_name"]


def test_a_hostile_pattern_costs_no_backtracking() -> None:
    # as many wildcards as the registry lets a path have (MAX_WILDCARDS), on long names
    long = {"type": "record", "name": "R" * 3000, "fields": [{"name": "f" * 3000, "type": "int"}]}
    hostile = {"tags": {"**f" * 16 + "x": ["PII"], "*?" * 16 + "x": ["PII"]}}
    started = time.perf_counter()
    writer, named = with_metadata_tags(long, {}, hostile)
    assert pii_fields(writer, named) == {}
    assert time.perf_counter() - started < 2
