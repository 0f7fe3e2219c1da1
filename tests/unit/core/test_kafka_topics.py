"""Topic naming rules and the record header encoding."""

from __future__ import annotations

import pytest

from services.core.errors import BadRequest
from services.core.kafka import headers
from services.core.kafka.headers import decode_headers, encode_headers
from services.core.kafka.topics import (
    AUDIT_TOPIC,
    CONNECT_OFFSETS_TOPIC,
    InvalidName,
    dataset_topic,
    dlq_topic,
    parse_dataset_topic,
)


def test_dataset_topic_names_agency_dataset_and_major() -> None:
    assert dataset_topic("mps", "residence-changes") == "mps.residence-changes.v1"
    assert dataset_topic("tax-office", "income2024", 3) == "tax-office.income2024.v3"
    assert dataset_topic("a1", "b" * 32, 12) == f"a1.{'b' * 32}.v12"


@pytest.mark.parametrize(
    "agency",
    ["", "m", "Mps", "1mps", "-mps", "mps_x", "mps.x", "m ps", "é-agency", "a" * 33, "ndxp"],
)
def test_bad_agency_names_are_refused(agency: str) -> None:
    with pytest.raises(InvalidName):
        dataset_topic(agency, "residence-changes")


@pytest.mark.parametrize("dataset", ["", "x", "Residence", "9lives", "a.b", "a/b", "d" * 33])
def test_bad_dataset_names_are_refused(dataset: str) -> None:
    with pytest.raises(InvalidName):
        dataset_topic("mps", dataset)


@pytest.mark.parametrize("major", [0, -1, True, 1.0, "1"])
def test_bad_major_versions_are_refused(major: object) -> None:
    with pytest.raises(InvalidName):
        dataset_topic("mps", "residence-changes", major)  # type: ignore[arg-type]


def test_invalid_name_is_a_bad_request_and_a_value_error() -> None:
    with pytest.raises(InvalidName) as info:
        dataset_topic("MPS", "x1")

    assert isinstance(info.value, BadRequest)
    assert isinstance(info.value, ValueError)
    assert info.value.status == 400
    assert "'MPS'" in info.value.message


def test_parse_dataset_topic_inverts_dataset_topic() -> None:
    assert parse_dataset_topic("mps.residence-changes.v2") == ("mps", "residence-changes", 2)
    for topic in (AUDIT_TOPIC, CONNECT_OFFSETS_TOPIC, "ndxp.dlq.v1", "mps.x1.v0", "mps.x1"):
        with pytest.raises(InvalidName):
            parse_dataset_topic(topic)


def test_hub_topics() -> None:
    assert AUDIT_TOPIC == "ndxp.audit"
    assert CONNECT_OFFSETS_TOPIC == "ndxp.connect-offsets"
    assert dlq_topic("mps-sql-source") == "ndxp.dlq.mps-sql-source"
    for bad in ("", "X", "a.b", "a b", "c" * 65):
        with pytest.raises(InvalidName):
            dlq_topic(bad)


def test_header_names() -> None:
    assert headers.EVENT_ID == "ndxp-event-id"
    assert headers.PRODUCER == "ndxp-producer"
    assert headers.SCHEMA_ID == "ndxp-schema-id"
    assert headers.PUBLISHED_AT == "ndxp-published-at"
    assert headers.TRACEPARENT == "traceparent"


def test_encode_headers_gives_utf8_bytes_in_order() -> None:
    encoded = encode_headers(
        {
            headers.EVENT_ID: "0f3c5e0e-6d7e-4c1b-9a1e-2f6c1d8e9b10",
            headers.PRODUCER: "mps",
            headers.SCHEMA_ID: 42,
            "note": "Zürich, 5 °C",
            "raw": b"\x00\xff",
        }
    )

    assert encoded == [
        ("ndxp-event-id", b"0f3c5e0e-6d7e-4c1b-9a1e-2f6c1d8e9b10"),
        ("ndxp-producer", b"mps"),
        ("ndxp-schema-id", b"42"),
        ("note", "Zürich, 5 °C".encode()),
        ("raw", b"\x00\xff"),
    ]


def test_encode_headers_refuses_other_types_and_empty_names() -> None:
    with pytest.raises(TypeError):
        encode_headers({"flag": True})
    with pytest.raises(TypeError):
        encode_headers({"x": 1.5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="empty"):
        encode_headers({"": "x"})


def test_decode_headers_round_trips_text() -> None:
    mapping = {headers.EVENT_ID: "e-1", headers.SCHEMA_ID: "7", "note": "Zürich"}

    assert decode_headers(encode_headers(mapping)) == mapping


def test_decode_headers_tolerates_what_foreign_producers_send() -> None:
    decoded = decode_headers([("a", b"1"), ("a", b"2"), ("null", None), ("bin", b"\xff")])

    assert decoded == {"a": "2", "null": "", "bin": "\ufffd"}
    assert decode_headers(None) == {}
    assert decode_headers(()) == {}
