"""A dataset's retention: how long Kafka keeps its events, given as milliseconds or ISO 8601.

``retention`` in the API is either an integer of milliseconds (what Kafka's ``retention.ms``
takes, ``-1`` for "forever") or an ISO 8601 duration in weeks, days, hours, minutes and seconds
(``P30D``, ``P1W``, ``PT12H``, ``P1DT6H``). Years and months are refused: they have no fixed
length, and a retention that silently means 28 or 31 days is a compliance bug.
"""

from __future__ import annotations

import re
from typing import Final

FOREVER: Final = -1
MIN_MS: Final = 60_000  # below a minute Kafka's log cleaner cannot honour it anyway
MAX_MS: Final = 100 * 365 * 24 * 3600 * 1000
DEFAULT: Final = "P7D"

_UNITS_MS: Final = {"W": 7 * 86_400_000, "D": 86_400_000, "H": 3_600_000, "M": 60_000, "S": 1000}
_DURATION = re.compile(
    r"P(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?(?:T(?=\d)(?:(?P<H>\d+)H)?(?:(?P<M>\d+)M)?(?:(?P<S>\d+)S)?)?"
)


def parse_retention(value: int | str) -> int:
    """Milliseconds for ``value``; ``ValueError`` with a readable reason if it is not one."""
    ms = value if isinstance(value, int) else _parse_duration(value.strip().upper())
    if ms != FOREVER and not MIN_MS <= ms <= MAX_MS:
        raise ValueError(f"retention must be -1 (forever) or from {MIN_MS} ms to 100 years")
    return ms


def _parse_duration(text: str) -> int:
    if text.lstrip("-").isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if match is None or text == "P" or not any(match.groupdict().values()):
        raise ValueError(
            f"retention {text!r} is not milliseconds nor an ISO 8601 duration in weeks, days, "
            "hours, minutes and seconds (e.g. P30D, PT12H); years and months have no fixed length"
        )
    return sum(int(n) * _UNITS_MS[unit] for unit, n in match.groupdict().items() if n)


def format_retention(ms: int) -> str | None:
    """The ISO 8601 duration of ``ms`` (largest whole units), or None for "forever"."""
    if ms == FOREVER:
        return None
    days, rest = divmod(ms, _UNITS_MS["D"])
    hours, rest = divmod(rest, _UNITS_MS["H"])
    minutes, rest = divmod(rest, _UNITS_MS["M"])
    seconds = rest / 1000
    time = "".join(
        f"{n:g}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n
    )
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"
