"""Retention: milliseconds or ISO 8601 durations of fixed length, and back."""

from __future__ import annotations

import pytest

from services.gateway.catalog.retention import format_retention, parse_retention

DAY = 86_400_000


@pytest.mark.parametrize(
    ("given", "ms"),
    [
        ("P30D", 30 * DAY),
        ("p7d", 7 * DAY),
        ("P1W", 7 * DAY),
        ("PT12H", 12 * 3_600_000),
        ("P1DT6H30M", DAY + 6 * 3_600_000 + 30 * 60_000),
        ("PT90S", 90_000),
        (" P2D ", 2 * DAY),
        ("86400000", DAY),
        (DAY, DAY),
        (-1, -1),
        ("-1", -1),
    ],
)
def test_parses(given: int | str, ms: int) -> None:
    assert parse_retention(given) == ms


@pytest.mark.parametrize(
    "given",
    ["P1Y", "P1M", "P", "PT", "30D", "P1.5D", "forever", "", "PT1H2D", 0, 59_999, -2, "P200000W"],
)
def test_refuses(given: int | str) -> None:
    with pytest.raises(ValueError, match="retention"):
        parse_retention(given)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (30 * DAY, "P30D"),
        (DAY + 6 * 3_600_000, "P1DT6H"),
        (90_000, "PT1M30S"),
        (1500, "PT1.5S"),
        (-1, None),
    ],
)
def test_formats(ms: int, text: str | None) -> None:
    assert format_retention(ms) == text
    if text is not None and "." not in text:
        assert parse_retention(text) == ms
