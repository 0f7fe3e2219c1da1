"""The contract linter: each rule fires on a crafted bad schema and stays silent on a good one."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from services.core.kafka.topics import InvalidName
from services.registry.lint import (
    Finding,
    LintLevel,
    expected_namespace,
    lint_contract,
    lint_text,
    pii_suspect_fragment,
)


def good() -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Person",
        "namespace": "vn.gov.mps",
        "doc": "A person.",
        "fields": [
            {"name": "citizen_id", "type": "string", "pii": "basic", "doc": "Identity number."},
            {
                "name": "home",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Address",
                        "doc": "An address.",
                        "fields": [
                            {"name": "ward_code", "type": "string", "doc": "Ward."},
                            {"name": "street", "type": "string", "pii": "basic", "doc": "Street."},
                        ],
                    },
                ],
                "default": None,
                "pii": "basic",
                "doc": "Home address.",
            },
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
                "doc": "Visits.",
            },
            {
                "name": "kind",
                "type": {
                    "type": "enum",
                    "name": "PersonKind",
                    "doc": "Kind.",
                    "symbols": ["CITIZEN", "FOREIGN_RESIDENT", "OTHER"],
                    "default": "OTHER",
                },
                "doc": "Kind of person.",
            },
            {"name": "office_address", "type": "string", "pii": None, "doc": "Reviewed."},
        ],
    }


def rules(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def test_a_good_contract_has_no_findings() -> None:
    assert lint_contract(good(), namespace="vn.gov.mps") == []
    assert lint_text(json.dumps(good()), namespace="vn.gov.mps") == []


def test_lint_contract_does_not_modify_its_input() -> None:
    schema = good()
    lint_contract(schema, namespace="vn.gov.mps")
    assert schema == good()


# -- invalid ---------------------------------------------------------------------------------


def test_text_that_is_not_json_is_invalid() -> None:
    [finding] = lint_text("{not json")
    assert finding.rule == "invalid"
    assert finding.path == ""
    assert "not JSON" in finding.message


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "A", "doc": "d", "fields": [{"name": "x", "type": "Nope"}]},
        {"type": "enum", "name": "E", "doc": "d", "symbols": ["A"], "default": "B"},
        {"type": "array"},
        42,
        None,
    ],
)
def test_a_schema_fastavro_refuses_is_a_single_invalid_finding(schema: Any) -> None:
    [finding] = lint_contract(schema)
    assert finding.rule == "invalid"
    assert "not a valid Avro schema" in finding.message


def test_types_from_schema_references_are_known_through_named() -> None:
    schema = good()
    schema["fields"][1]["type"][1] = "vn.gov.common.Address"
    assert rules(lint_contract(schema)) == ["invalid"]
    named = {"vn.gov.common.Address": {"type": "record", "name": "Address", "fields": []}}
    assert lint_contract(schema, named=named) == []
    assert lint_text(json.dumps(schema), named=named) == []


def test_absurdly_deep_nesting_is_invalid_not_a_crash() -> None:
    deep = '{"type": "array", "items": ' * 100_000 + '"int"' + "}" * 100_000
    assert rules(lint_text(deep)) == ["invalid"]


def test_a_record_without_fields_is_invalid() -> None:
    schema = {"type": "record", "name": "A", "doc": "d"}  # fastavro accepts it, Avro does not
    assert [(f.rule, f.path) for f in lint_contract(schema)] == [("invalid", "")]


def test_a_field_defined_twice_is_invalid() -> None:
    schema = good()
    schema["fields"].append(copy.deepcopy(schema["fields"][0]))
    findings = lint_contract(schema)
    assert rules(findings) == ["invalid"]
    assert findings[0].path == "/fields/5"


def test_a_union_default_must_match_the_first_branch() -> None:
    schema = good()
    schema["fields"][1]["default"] = {"ward_code": "00001", "street": "1 Tràng Tiền"}
    schema["fields"].append(
        {"name": "note", "type": ["string", "null"], "default": None, "doc": "A note."}
    )
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [
        ("invalid", "/fields/1"),
        ("invalid", "/fields/5"),
    ]


# -- top-level -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    ["string", ["null", "string"], {"type": "enum", "name": "E", "doc": "d", "symbols": ["A"]}],
)
def test_a_top_level_schema_that_is_not_a_record_is_a_finding(schema: Any) -> None:
    assert rules(lint_contract(schema)) == ["top-level"]


# -- docs ------------------------------------------------------------------------------------


def test_records_at_any_depth_need_a_doc() -> None:
    schema = good()
    del schema["doc"]
    schema["fields"][1]["type"][1]["doc"] = "   "
    del schema["fields"][2]["type"]["items"]["doc"]
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [
        ("record-doc", ""),
        ("record-doc", "/fields/1/type/1"),
        ("record-doc", "/fields/2/type/items"),
    ]


def test_enums_need_a_doc() -> None:
    schema = good()
    del schema["fields"][3]["type"]["doc"]
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("enum-doc", "/fields/3/type")]


def test_fields_at_any_depth_need_a_doc() -> None:
    schema = good()
    del schema["fields"][0]["doc"]
    schema["fields"][2]["type"]["items"]["fields"][1]["doc"] = ""
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [
        ("field-doc", "/fields/0"),
        ("field-doc", "/fields/2/type/items/fields/1"),
    ]
    assert "'visits.diagnosis'" in findings[1].message


# -- naming ----------------------------------------------------------------------------------


def test_type_names_must_be_pascal_case() -> None:
    schema = good()
    schema["name"] = "person_record"
    schema["fields"][1]["type"][1]["name"] = "address"
    schema["fields"][3]["type"]["name"] = "vn.gov.mps.person_kind"
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [
        ("naming", ""),
        ("naming", "/fields/1/type/1"),
        ("naming", "/fields/3/type"),
    ]


def test_enum_symbols_must_be_upper_snake_case() -> None:
    schema = good()
    schema["fields"][3]["type"]["symbols"] = ["CITIZEN", "foreignResident", "OTHER"]
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("naming", "/fields/3/type/symbols/1")]


def test_namespace_segments_must_be_lower_case() -> None:
    schema = good()
    schema["namespace"] = "vn.Gov.mps"
    assert rules(lint_contract(schema)) == ["naming"]


@pytest.mark.parametrize("name", ["Citizen_id", "citizen__id", "_citizen", "CITIZEN_ID"])
def test_field_names_must_be_snake_or_camel_case(name: str) -> None:
    schema = good()
    schema["fields"][0]["name"] = name
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("naming", "/fields/0")]


def test_a_contract_may_be_all_camel_case() -> None:
    schema = good()
    schema["fields"][0]["name"] = "citizenId"
    schema["fields"][1]["type"][1]["fields"][0]["name"] = "wardCode"
    schema["fields"][4]["name"] = "officeAddress"
    assert lint_contract(schema) == []


def test_mixing_snake_and_camel_case_is_a_finding_on_the_minority_style() -> None:
    schema = good()
    schema["fields"][1]["type"][1]["fields"][0]["name"] = "wardCode"
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("naming", "/fields/1/type/1/fields/0")]
    assert "snake_case" in findings[0].message
    assert "'citizen_id'" in findings[0].message


# -- namespace -------------------------------------------------------------------------------


def test_expected_namespace_maps_agency_to_vn_gov() -> None:
    assert expected_namespace("mps") == "vn.gov.mps"
    assert expected_namespace("ha-noi") == "vn.gov.ha_noi"


@pytest.mark.parametrize("agency", ["", "MPS", "1mps", "mps.x", "ndxp"])
def test_expected_namespace_refuses_bad_agency_names(agency: str) -> None:
    with pytest.raises(InvalidName):
        expected_namespace(agency)


@pytest.mark.parametrize("namespace", ["vn.gov.mps", "vn.gov.mps.population"])
def test_the_namespace_may_equal_or_lie_under_the_expected_one(namespace: str) -> None:
    schema = good()
    schema["namespace"] = namespace
    assert lint_contract(schema, namespace="vn.gov.mps") == []


def test_a_full_name_sets_the_namespace() -> None:
    schema = good()
    del schema["namespace"]
    schema["name"] = "vn.gov.mps.Person"
    assert lint_contract(schema, namespace="vn.gov.mps") == []
    assert rules(lint_contract(schema, namespace="vn.gov.mpi")) == ["namespace"]


@pytest.mark.parametrize("namespace", ["vn.gov.mpsx", "vn.gov", "gov.vn.mps", None])
def test_a_wrong_or_missing_namespace_is_a_finding(namespace: str | None) -> None:
    schema = good()
    if namespace is None:
        del schema["namespace"]
    else:
        schema["namespace"] = namespace
    findings = lint_contract(schema, namespace="vn.gov.mps")
    assert [(f.rule, f.path) for f in findings] == [("namespace", "")]
    assert lint_contract(schema) == []  # no expectation, no rule


# -- pii -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["BASIC", "high", True, 1, ""])
def test_a_pii_attribute_must_name_a_class(value: Any) -> None:
    schema = good()
    schema["fields"][2]["type"]["items"]["fields"][1]["pii"] = value
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("pii-class", "/fields/2/type/items/fields/1")]


def test_pii_on_a_type_instead_of_the_field_is_a_finding() -> None:
    schema = good()
    schema["fields"][0]["type"] = {"type": "string", "pii": "basic"}
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("pii-placement", "/fields/0/type")]


@pytest.mark.parametrize(
    "name",
    [
        "full_name",
        "ho_ten",
        "date_of_birth",
        "birthDate",
        "ngay_sinh",
        "cccd",
        "so_cmnd",
        "national_id",
        "mobile_phone",
        "so_dien_thoai",
        "contactEmail",
        "dia_chi_thuong_tru",
        "passport_number",
        "main_diagnosis",
        "religion",
        "ton_giao",
        "plate_number",
        "fingerprint_hash",
    ],
)
def test_a_field_named_like_personal_data_needs_a_pii_class(name: str) -> None:
    schema = good()
    field = schema["fields"][1]["type"][1]["fields"][0]
    field["name"] = name
    findings = lint_contract(schema)
    # a camelCase name also mixes styles with the contract's snake_case
    assert [(f.rule, f.path) for f in findings if f.rule != "naming"] == [
        ("pii-suspect", "/fields/1/type/1/fields/0")
    ]
    field["pii"] = "basic"
    assert [f.rule for f in lint_contract(schema) if f.rule != "naming"] == []


def test_pii_null_records_a_review_and_silences_pii_suspect() -> None:
    schema = good()
    assert schema["fields"][4]["pii"] is None
    del schema["fields"][4]["pii"]
    findings = lint_contract(schema)
    assert [(f.rule, f.path) for f in findings] == [("pii-suspect", "/fields/4")]


@pytest.mark.parametrize(
    "name",
    ["trace_id", "interface_name", "province_name", "ward_code", "tracking_number", "so_luong"],
)
def test_ordinary_names_are_not_suspect(name: str) -> None:
    assert pii_suspect_fragment(name) is None


def test_suspect_fragments_match_whole_words() -> None:
    assert pii_suspect_fragment("dateOfBirth") == "birth"
    assert pii_suspect_fragment("owner_name") == "owner_name"
    assert pii_suspect_fragment("ownername") is None


# -- the rest of the API ---------------------------------------------------------------------


def test_lint_levels() -> None:
    assert [level.value for level in LintLevel] == ["off", "warn", "enforce"]
    assert LintLevel("warn") is LintLevel.WARN


def test_findings_are_frozen_and_print_their_location() -> None:
    finding = Finding("field-doc", "/fields/0", "field 'x' has no doc")
    assert str(finding) == "/fields/0: field-doc: field 'x' has no doc"
    assert str(Finding("top-level", "", "m")) == "/: top-level: m"
    with pytest.raises(AttributeError):
        finding.rule = "x"  # type: ignore[misc]
