"""One record of every sample contract in schemas/, in the canonical JSON form of the codec."""

from __future__ import annotations

from typing import Any

JSON_SAMPLES: dict[str, dict[str, Any]] = {
    "mps/residence-changes.avsc": {
        "event_id": "0b3f1d8e-6a52-4c3e-9d0f-2b7a5f1c9e44",
        "citizen_id": "001089012345",
        "full_name": "Nguyễn Thị Lan",
        "date_of_birth": "1989-07-02",
        "change_type": "PERMANENT_REGISTRATION",
        "old_address": {
            "province_code": "01",
            "district_code": "001",
            "ward_code": "00004",
            "street": "Số 12, ngõ 34 phố Đội Cấn",
        },
        "new_address": {
            "province_code": "79",
            "district_code": None,
            "ward_code": "26734",
            "street": "45 Nguyễn Huệ",
        },
        "effective_date": "2025-03-14",
        "authority_code": "CAP-79-26734",
        "recorded_at": "2025-03-14T02:30:15.123Z",
    },
    "mps/vehicle-registrations.avsc": {
        "plate_number": "30K-123.45",
        "vin": "RLLV8BSE5PH000123",
        "make": "VinFast",
        "model": "VF 8",
        "owner_name": "Trần Văn Minh",
        "owner_id": "036085001234",
        "registration_date": "2024-11-05",
        "province_code": "01",
    },
    "mpi/business-registrations.avsc": {
        "enterprise_code": "0109876543",
        "name": "Công ty TNHH Công nghệ Sông Hồng",
        "english_name": "Song Hong Technology Company Limited",
        "legal_form": "SINGLE_MEMBER_LLC",
        "registered_capital": "5000000000",
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
        "registered_at": "2025-03-14T02:30:15.123Z",
    },
    "vnpost/postal-codes.avsc": {
        "postcode": "10000",
        "province_code": "01",
        "province_name": "Thành phố Hà Nội",
        "district_code": "001",
        "district_name": "Quận Ba Đình",
        "ward_code": "00001",
        "ward_name": "Phường Phúc Xá",
        "latitude": 21.0477,
        "longitude": 105.8478,
        "valid_from": "2018-01-01",
    },
    "vss/health-insurance-cards.avsc": {
        "card_number": "DN4010123456789",
        "holder_name": "Phạm Thu Hà",
        "date_of_birth": "1994-12-30",
        "beneficiary_group": "DN",
        "primary_care_facility_code": "01001",
        "valid_from": "2025-01-01",
        "valid_to": "2025-12-31",
        "status": "ACTIVE",
        "chronic_condition_codes": ["E11", "I10"],
        "last_claim_diagnosis": "J06.9",
        "recorded_at": "2025-03-14T02:30:15.123Z",
    },
}
