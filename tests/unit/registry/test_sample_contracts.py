"""The contracts in schemas/: valid Avro, lint-clean, classified, and able to carry real records.

Also the contracts-as-code helpers that find and lint them.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from services.core.avro.pii import pii_fields
from services.core.kafka.topics import InvalidName
from services.registry.contracts import Contract, discover, lint_files, parse_contract_path
from services.registry.lint import expected_namespace, lint_text

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
FILES = sorted(SCHEMAS.rglob("*.avsc"))
RECORDED = datetime(2025, 3, 14, 2, 30, 15, 123000, tzinfo=UTC)

ADDRESS_OLD = {
    "province_code": "01",
    "district_code": "001",
    "ward_code": "00004",
    "street": "Số 12, ngõ 34 phố Đội Cấn",
}
ADDRESS_NEW = {
    "province_code": "79",
    "district_code": None,
    "ward_code": "26734",
    "street": "45 Nguyễn Huệ",
}

SAMPLES: dict[str, dict[str, Any]] = {
    "mps.residence-changes.v1-value": {
        "event_id": uuid.UUID("0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44"),
        "citizen_id": "001089012345",
        "full_name": "Nguyễn Thị Lan",
        "date_of_birth": date(1989, 7, 2),
        "change_type": "PERMANENT_REGISTRATION",
        "old_address": ADDRESS_OLD,
        "new_address": ADDRESS_NEW,
        "effective_date": date(2025, 3, 14),
        "authority_code": "CAP-79-26734",
        "recorded_at": RECORDED,
    },
    "mps.vehicle-registrations.v1-value": {
        "plate_number": "30K-123.45",
        "vin": "RLLV8BSE5PH000123",
        "make": "VinFast",
        "model": "VF 8",
        "owner_name": "Trần Văn Minh",
        "owner_id": "036085001234",
        "registration_date": date(2024, 11, 5),
        "province_code": "01",
    },
    "mpi.business-registrations.v1-value": {
        "enterprise_code": "0109876543",
        "name": "Công ty TNHH Công nghệ Sông Hồng",
        "english_name": "Song Hong Technology Company Limited",
        "legal_form": "SINGLE_MEMBER_LLC",
        "registered_capital": Decimal("5000000000"),
        "head_office_address": {
            "province_code": "01",
            "district_code": None,
            "ward_code": "00070",
            "street": "Tầng 5, 18 Lý Thường Kiệt",
        },
        "legal_representative_name": "Lê Hoàng Nam",
        "legal_representative_id": "001082004567",
        "industry_codes": ["6201", "6202", "6311"],
        "status": "ACTIVE",
        "registered_at": RECORDED,
    },
    "vnpost.postal-codes.v1-value": {
        "postcode": "10000",
        "province_code": "01",
        "province_name": "Thành phố Hà Nội",
        "district_code": "001",
        "district_name": "Quận Ba Đình",
        "ward_code": "00001",
        "ward_name": "Phường Phúc Xá",
        "latitude": 21.0477,
        "longitude": 105.8478,
        "valid_from": date(2018, 1, 1),
    },
    "vss.health-insurance-cards.v1-value": {
        "card_number": "DN4010123456789",
        "holder_name": "Phạm Thu Hà",
        "date_of_birth": date(1994, 12, 30),
        "beneficiary_group": "DN",
        "primary_care_facility_code": "01001",
        "valid_from": date(2025, 1, 1),
        "valid_to": date(2025, 12, 31),
        "status": "ACTIVE",
        "chronic_condition_codes": ["E11", "I10"],
        "last_claim_diagnosis": "J06.9",
        "recorded_at": RECORDED,
    },
}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_sample_contracts_are_all_there() -> None:
    assert sorted(c.subject for c in discover(ROOT)) == sorted(SAMPLES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(SCHEMAS).as_posix())
def test_every_contract_parses_and_lints_clean(path: Path) -> None:
    fastavro.parse_schema(load(path))
    assert path.parent.parent == SCHEMAS, "contracts live in schemas/<agency>/"
    namespace = expected_namespace(path.parent.name)
    assert [str(f) for f in lint_text(path.read_text(encoding="utf-8"), namespace=namespace)] == []
    assert load(path)["namespace"] == namespace


def test_lint_files_finds_nothing_in_schemas() -> None:
    assert lint_files(FILES) == {path: [] for path in FILES}


def test_the_health_insurance_contract_has_sensitive_fields() -> None:
    tags = pii_fields(load(SCHEMAS / "vss" / "health-insurance-cards.avsc"))
    assert tags["chronic_condition_codes"] == "sensitive"
    assert tags["last_claim_diagnosis"] == "sensitive"
    assert tags["card_number"] == tags["holder_name"] == tags["date_of_birth"] == "basic"


def test_personal_data_is_tagged_in_every_contract_that_holds_it() -> None:
    tags = {c.subject: pii_fields(json.loads(c.text)) for c in discover(ROOT)}
    assert tags["vnpost.postal-codes.v1-value"] == {}
    assert tags["mps.residence-changes.v1-value"]["new_address.street"] == "basic"
    assert tags["mps.vehicle-registrations.v1-value"].keys() == {
        "plate_number",
        "owner_name",
        "owner_id",
    }
    assert "head_office_address" not in tags["mpi.business-registrations.v1-value"]


@pytest.mark.parametrize("subject", sorted(SAMPLES))
def test_a_realistic_record_round_trips(subject: str) -> None:
    [contract] = [c for c in discover(ROOT) if c.subject == subject]
    schema = fastavro.parse_schema(json.loads(contract.text))
    record = SAMPLES[subject]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record, strict=True)
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, schema, schema) == record


def test_optional_fields_and_enum_defaults_let_old_readers_evolve() -> None:
    for path in FILES:
        schema = load(path)
        for field in schema["fields"]:
            if isinstance(field["type"], list) and field["type"][0] == "null":
                assert field.get("default", "missing") is None, f"{path}: {field['name']}"
            if isinstance(field["type"], dict) and field["type"]["type"] == "enum":
                assert field["type"]["default"] in field["type"]["symbols"], path


# -- contracts as code -----------------------------------------------------------------------


def write(root: Path, relative: str, schema: Any) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema) if not isinstance(schema, str) else schema)
    return path


def tiny(namespace: str) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Tiny",
        "namespace": namespace,
        "doc": "A tiny contract.",
        "fields": [{"name": "code", "type": "string", "doc": "A code."}],
    }


def test_the_file_name_gives_the_major_version(tmp_path: Path) -> None:
    write(tmp_path, "schemas/ha-noi/permits.avsc", tiny("vn.gov.ha_noi"))
    write(tmp_path, "schemas/ha-noi/permits.v2.avsc", tiny("vn.gov.ha_noi"))
    contracts = discover(tmp_path)
    assert [(c.agency, c.dataset, c.major) for c in contracts] == [
        ("ha-noi", "permits", 1),
        ("ha-noi", "permits", 2),
    ]
    assert [c.subject for c in contracts] == ["ha-noi.permits.v1-value", "ha-noi.permits.v2-value"]
    assert contracts[1].topic == "ha-noi.permits.v2"
    assert contracts[0].namespace == "vn.gov.ha_noi"
    assert contracts[0].lint() == []
    assert discover(tmp_path / "schemas") == contracts


def test_a_contract_defaults_to_major_version_one() -> None:
    contract = Contract("mps", "residence-changes", Path("x.avsc"), "{}")
    assert contract.subject == "mps.residence-changes.v1-value"


def test_two_files_for_one_subject_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "schemas/mps/permits.avsc", tiny("vn.gov.mps"))
    write(tmp_path, "schemas/mps/permits.v1.avsc", tiny("vn.gov.mps"))
    with pytest.raises(InvalidName, match=r"mps\.permits\.v1-value"):
        discover(tmp_path)


@pytest.mark.parametrize(
    "relative",
    [
        "schemas/MPS/permits.avsc",
        "schemas/mps/Permits.avsc",
        "schemas/mps/permits.v0.avsc",
        "schemas/mps/permits_2024.avsc",
        "schemas/ndxp/permits.avsc",
    ],
)
def test_a_misnamed_contract_file_is_refused_not_skipped(tmp_path: Path, relative: str) -> None:
    write(tmp_path, relative, tiny("vn.gov.mps"))
    with pytest.raises(InvalidName):
        discover(tmp_path)


def test_parse_contract_path() -> None:
    assert parse_contract_path(Path("schemas/mps/residence-changes.avsc")) == (
        "mps",
        "residence-changes",
        1,
    )
    assert parse_contract_path(Path("mpi/business-registrations.v3.avsc")) == (
        "mpi",
        "business-registrations",
        3,
    )


def test_lint_files_checks_the_namespace_of_the_agency_directory(tmp_path: Path) -> None:
    right = write(tmp_path, "schemas/mps/permits.avsc", tiny("vn.gov.mps"))
    wrong = write(tmp_path, "schemas/mps/licences.avsc", tiny("vn.gov.mpi"))
    loose = write(tmp_path, "elsewhere/c.avsc", tiny("anything.at.all"))
    misplaced = write(tmp_path, "schemas/Bad_Agency/permits.avsc", tiny("vn.gov.mps"))
    broken = write(tmp_path, "schemas/mps/broken.avsc", "{")
    missing = tmp_path / "schemas" / "mps" / "gone.avsc"
    findings = lint_files([right, wrong, loose, misplaced, broken, missing])
    assert {path: [f.rule for f in found] for path, found in findings.items()} == {
        right: [],
        wrong: ["namespace"],
        loose: [],
        misplaced: ["location"],
        broken: ["invalid"],
        missing: ["invalid"],
    }
