"""Event ids: the fast computation gives exactly the ids ``uuid.uuid5`` gives, for every kind of
source position, so ids written before it and after it match (receivers drop repeats by them)."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from services.connectors.failures import EVENT_NAMESPACE, canonical, event_id

CONNECTORS = ["sql-people", "a", "hồ-sơ-đất-đai", "x" * 64]

SCALARS: list[Any] = [
    0,
    1,
    -1,
    2**63 - 1,
    -(2**63),
    10**30,
    1.5,
    -0.0,
    True,
    False,
    None,
    "",
    "people.csv",
    'quote " backslash \\ tab \t newline \n',
    "Nguyễn Văn An",
    "Trần Thị Bình, Hà Nội",
    "Đắk Lắk \u2013 Buôn Ma Thuột",
    "emoji 🇻🇳 and \u0000 nul",
    datetime(2025, 1, 1, 0, 0, 0),  # noqa: DTZ001 - a source's local time, as SQL rows carry it
    datetime(2025, 3, 14, 9, 26, 53, 589793, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=7))),
    date(1975, 4, 30),
    Decimal("12345.6789"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
]


def _positions() -> list[Any]:
    positions: list[Any] = list(SCALARS)
    positions += [{"incrementing": n} for n in range(-5, 500)]
    positions += [
        {"timestamp": stamp, "incrementing": n}  # keys out of order: sorted before hashing
        for stamp, n in itertools.product(SCALARS[18:21], range(20))
    ]
    positions += [
        {"file": name, "line": line, "sha256": "ab" * 32}
        for name, line in itertools.product(SCALARS[11:18], (0, 1, 999_999))
    ]
    positions += [
        {"page": {"cursor": text, "seen": [1, 2, {"z": None, "a": text}]}, "n": n}
        for text, n in itertools.product(SCALARS[11:], (0, 7))
    ]
    positions += [[value, {"nested": {"deeper": value}}] for value in SCALARS]
    return positions


POSITIONS = _positions()


def _reference(connector: str, position: Any) -> str:
    text = json.dumps(position, sort_keys=True, separators=(",", ":"), default=str)
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{connector}\n{text}"))


@pytest.mark.parametrize("connector", CONNECTORS)
def test_event_ids_are_the_uuid5_of_connector_and_canonical_position(connector: str) -> None:
    assert len(POSITIONS) > 600
    for position in POSITIONS:
        expected = _reference(connector, position)
        assert event_id(connector, position) == expected, position


def test_canonical_is_compact_sorted_json_with_str_for_the_rest() -> None:
    for position in POSITIONS:
        expected = json.dumps(position, sort_keys=True, separators=(",", ":"), default=str)
        assert canonical(position) == expected
    moment = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
    assert canonical({"b": moment, "a": "Hà Nội"}) == (
        '{"a":"H\\u00e0 N\\u1ed9i","b":"2025-03-14 09:26:53+00:00"}'
    )


def test_an_event_id_is_a_version_5_rfc_4122_uuid_and_differs_by_connector() -> None:
    ids = {event_id(connector, {"incrementing": 42}) for connector in CONNECTORS}
    assert len(ids) == len(CONNECTORS)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 5
        assert parsed.variant == uuid.RFC_4122
