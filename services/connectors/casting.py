"""The value conversions of the ``cast`` transform, and the text form ``mask``, ``hash`` and ``key``
read values in.

A cast never loses information silently: ``"4.5"`` is not an int, ``"1e999999999"`` is not a
decimal (it would expand to a billion digits), a timestamp finer than microseconds is refused.
``date`` takes ``YYYY-MM-DD`` or the day-first ``dd/mm/yyyy`` of Vietnamese exports and gives
``YYYY-MM-DD``; ``timestamp`` takes ISO 8601 (without an offset it is UTC) and gives ISO 8601 with
its offset, ``Z`` for UTC; ``decimal`` gives the exact decimal as a string, never through a float.
A value that has no form of the type asked raises :class:`Uncastable`, whose message (if any) says
why; the transform names the field and the value around it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Final, Literal
from uuid import UUID


class Uncastable(ValueError):
    """A value that has no form of the type asked; the message, if any, says why."""


_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_FIRST: Final = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_SUB_MICROSECOND: Final = re.compile(r"[.,][0-9]{7}")
_MAX_EXPONENT: Final = 1000  # "1e999999999" would otherwise expand to a billion digits
_MAX_PLAIN_EXPONENT: Final = 64
_BOOLEANS: Final = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def to_text(value: Any) -> str:
    """A value as text: JSON's spelling for booleans and objects, ISO 8601 for dates."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float | UUID):
        return str(value)
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise Uncastable("bytes that are not UTF-8 text") from None
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=to_text)
    raise Uncastable()


def _plain(number: Decimal) -> str:
    """Without an exponent (``100``, not ``1E+2``) where that is a reasonable length."""
    exponent = number.as_tuple().exponent
    plain = isinstance(exponent, int) and abs(exponent) <= _MAX_PLAIN_EXPONENT
    return format(number, "f") if plain else str(number)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, int):  # and bool: 1 and 0, as Kafka Connect's Cast does
        return Decimal(int(value))
    if isinstance(value, float):  # its shortest decimal: 0.1, not 0.1000000000000000055...
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and _NUMBER.fullmatch(text := value.strip()):
        number = Decimal(text)
    else:
        raise Uncastable("not a number")
    if not number.is_finite():
        raise Uncastable("not a finite number")
    if abs(int(number.as_tuple().exponent)) > _MAX_EXPONENT:
        raise Uncastable("exponent out of range")
    return number


def to_int(value: Any) -> int:
    """A whole number: ``"42"``, ``"4.0"``, ``"1e3"``; ``"4.5"`` is not one."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    number = _decimal(value)
    if number != number.to_integral_value():
        raise Uncastable("not a whole number")
    return int(number)


def to_float(value: Any) -> float:
    """A finite number, through its exact decimal (never ``float("nan")``'s spellings)."""
    number = float(value) if isinstance(value, int | float) else float(_decimal(value))
    if not math.isfinite(number):
        raise Uncastable("not a finite number in a double's range")
    return number


def to_boolean(value: Any) -> bool:
    """true/false, yes/no, 1/0 (any case, text or number)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):  # a tuple: no hash of NaN
        return bool(value)
    if isinstance(value, str) and (found := _BOOLEANS.get(value.strip().lower())) is not None:
        return found
    raise Uncastable("expected true/false, 1/0 or yes/no")


def to_decimal_text(value: Any) -> str:
    """The exact decimal, as text without an exponent where that is a reasonable length."""
    return _plain(_decimal(value))


def parse_date(value: Any, fmt: str | None = None) -> date:
    """A calendar date: a ``date``, a naive midnight ``datetime`` (Oracle's DATE comes as one),
    or text: ``YYYY-MM-DD``, else ``fmt`` (``strptime``'s codes, e.g. ``%d/%m/%Y``), or without
    ``fmt`` the day-first ``dd/mm/yyyy`` of Vietnamese exports."""
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time():
            return value.date()
        raise Uncastable("has a time of day or a UTC offset")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.fullmatch(text):
            year, month, day = map(int, text.split("-"))
            return date(year, month, day)
        if fmt is not None:
            try:
                return datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a day has no zone
            except ValueError:
                pass
        elif match := _DAY_FIRST.fullmatch(text):
            day, month, year = map(int, match.groups())
            return date(year, month, day)
    raise Uncastable(f"expected YYYY-MM-DD or {fmt or 'dd/mm/yyyy'}")


def parse_timestamp(value: Any, fmt: str | None = None, zone: tzinfo | None = UTC) -> datetime:
    """An instant: a ``datetime``, a ``date`` (its midnight), or text in ``fmt`` (``strptime``'s
    codes) or ISO 8601. A time without a UTC offset is a wall-clock time in ``zone`` (None: it
    stays naive). Digits finer than microseconds are refused, never rounded away."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - the zone below
    elif isinstance(value, str):
        text = value.strip()
        if _SUB_MICROSECOND.search(text):
            raise Uncastable("finer than microseconds")
        moment = _moment(text, fmt)
    else:
        raise Uncastable()
    if moment.utcoffset() is None and zone is not None:
        moment = moment.replace(tzinfo=zone)
    return moment


def _moment(text: str, fmt: str | None) -> datetime:
    if fmt is not None:
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 - naive ones get the zone after
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        expected = f"{fmt} or ISO 8601" if fmt else "ISO 8601, e.g. 2025-03-14T09:30:15+07:00"
        raise Uncastable(f"expected {expected}") from None


def _iso(moment: datetime) -> str:
    micros = moment.microsecond
    spec = "seconds" if not micros else "milliseconds" if not micros % 1000 else "microseconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if moment.utcoffset() == timedelta(0) else text


CastType = Literal["int", "float", "boolean", "string", "date", "timestamp", "decimal"]
CASTS: Final[dict[str, Callable[[Any], Any]]] = {
    "int": to_int,
    "float": to_float,
    "boolean": to_boolean,
    "string": to_text,
    "date": lambda value: parse_date(value).isoformat(),
    "timestamp": lambda value: _iso(parse_timestamp(value)),
    "decimal": to_decimal_text,
}
