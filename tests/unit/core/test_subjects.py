"""Subject names: one spelling per subject, refused when no endpoint takes them."""

from __future__ import annotations

import pytest

from services.core.subjects import (
    MAX_SUBJECT_LENGTH,
    InvalidSubject,
    check_subject,
    owner_of,
    resolve_prefix,
)


@pytest.mark.parametrize(
    "name",
    [
        "alfa.records.v1-value",
        "vn.gov.common.Address",  # a shared type library (RecordNameStrategy)
        "ndxp.agreements.0b9c6a3e-2f4d-4c1a-9d7e-0a1b2c3d4e5f-value",
        "orders-value",
        "Orders-value",  # Confluent subjects are case-sensitive; only dataset look-alikes are not
        "x/y",  # Confluent allows a slash; paths make it awkward, not invalid
        "mps/address.avsc",
        "a/../b",  # a dot segment inside a name is no path step
        "100%",
        "a%2Fb",  # a percent-escape inside a name is literal (sent as a%252Fb)
        "__GLOBALS",
        "danh mục tỉnh",  # inner spaces and Vietnamese letters
        "a" * MAX_SUBJECT_LENGTH,
    ],
)
def test_valid_names_are_themselves(name: str) -> None:
    assert check_subject(name) == name


def test_the_default_context_is_the_plain_name() -> None:
    assert check_subject(":.:alfa.records.v1-value") == "alfa.records.v1-value"
    assert check_subject(":.:Orders-value") == "Orders-value"
    assert resolve_prefix(":.:alfa.") == "alfa."
    assert resolve_prefix("alfa.") == "alfa."


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("alfa.records.v1-value\x00", "U+0000"),
        ("alfa.records\x00.v1-value", "U+0000"),
        ("alfa.records.v1-value\n", "U+000A"),
        ("\x1balfa.records.v1-value", "U+001B"),
        ("alfa.records.v1-value\u200b", "U+200B"),  # zero-width space
        ("\ufeffalfa.records.v1-value", "U+FEFF"),  # byte order mark
        ("alfa.records.v1-value\u202e", "U+202E"),  # right-to-left override
        ("al\u00adfa.records.v1-value", "U+00AD"),  # soft hyphen
        ("alfa.records.v1-value\u2028", "U+2028"),  # line separator
        ("alfa.records.v1-value\ue000", "U+E000"),  # private use
        ("alfa.records.v1-value\ufffd", "U+FFFD"),  # what a non-UTF-8 %-escape decodes to
        (" alfa.records.v1-value", "whitespace"),
        ("alfa.records.v1-value ", "whitespace"),
        ("alfa.records.v1-value\u00a0", "whitespace"),
        ("\u3000orders-value", "whitespace"),
        (":.alfa:alfa.records.v1-value", "default context"),
        (":*:alfa.records.v1-value", "default context"),
        (":alfa.records.v1-value", "default context"),
        (":.:", "followed by a subject"),
        (":.::.:alfa.records.v1-value", "followed by a subject"),
        (":.: alfa.records.v1-value", "followed by a subject"),
        (
            "ALFA.records.v1-value",
            "another spelling of the dataset subject 'alfa.records.v1-value'",
        ),
        ("alfa.Records.v1-value", "another spelling"),
        ("alfa.records.V1-value", "another spelling"),
        ("alfa.records.v1-VALUE", "another spelling"),
        ("Alfa.x.v2-Key", "another spelling of the dataset subject 'alfa.x.v2-key'"),
        ("\uff41lfa.records.v1-value", "another spelling"),  # full-width a
        ("alfa.records.v\uff11-value", "another spelling"),  # full-width 1
        ("alfa\uff0erecords.v1-value", "another spelling"),  # full-width full stop
        ("\ufb01le.records.v1-value", "another spelling of the dataset subject 'file."),  # ligature
        (":.:ALFA.records.v1-value", "another spelling"),
        ("\u0430lfa.records.v1-value", "shaped like a dataset's subject"),  # Cyrillic a
        ("al fa.records.v1-value", "shaped like a dataset's subject"),
        ("alfa.records.v1\u2010value", "shaped like a dataset's subject"),  # hyphen U+2010
        ("alfa.records.v1\u2212key", "shaped like a dataset's subject"),  # minus sign
        ("My_App.orders.v1-value", "shaped like a dataset's subject"),
        ("a" * (MAX_SUBJECT_LENGTH + 1), "longer than 255"),
        ("__GLOBAL", "reserved"),  # Confluent's names for the registry-wide settings
        ("__EMPTY", "reserved"),
        (":.:__GLOBAL", "reserved"),
    ],
)
def test_invalid_names_are_refused_with_42208(name: str, reason: str) -> None:
    with pytest.raises(InvalidSubject) as refused:
        check_subject(name)
    assert refused.value.status == 422
    assert refused.value.error_code == 42208
    assert reason in refused.value.message
    assert "\x00" not in refused.value.message  # refused characters are shown escaped


@pytest.mark.parametrize(
    ("subject", "owner"),
    [
        ("mps.residence-changes.v1-value", "mps"),
        ("vss.cards.v12-key", "vss"),
        ("alfa.x.v1-value", "alfa"),  # shaped like a dataset's subject: the agency's claim
        ("alfa.records.v0-value", "alfa"),
        ("vn.gov.common.Address", None),
        ("test-123-value", None),
        ("alfa.records.v1-value.extra", None),
        ("alfa.records.v\u0661-value", "alfa"),  # any digit: the claim errs on the wide side
        ("ndxp.agreements.0b9c6a3e-value", None),
    ],
)
def test_owner_of(subject: str, owner: str | None) -> None:
    assert owner_of(subject) == owner
