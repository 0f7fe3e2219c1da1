"""Single values between ndxp's JSON conventions and Avro: logical types, bytes, float precision.

Each ``*_to_avro`` function takes a JSON value (or the equivalent Python value a connector holds:
``date``, ``datetime``, ``time``, ``Decimal``, ``UUID``, ``bytes``) and returns what fastavro
writes, raising :class:`Invalid` with a reason a person can act on. Each ``*_to_json`` function
takes what fastavro's reader returns and gives the canonical JSON form. The conventions themselves
are documented in :mod:`services.core.avro.codec`.
"""

from __future__ import annotations

import binascii
import contextlib
import math
import re
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

INT_RANGE: Final = (-(2**31), 2**31 - 1)
LONG_RANGE: Final = (-(2**63), 2**63 - 1)
FLOAT_MAX: Final = 3.4028234663852886e38  # the largest finite 32-bit float
DOUBLE_MAX: Final = 1.7976931348623157e308

_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)  # noqa: DTZ001 - local-timestamp values have no zone
_MICROSECOND: Final = timedelta(microseconds=1)
# Dates and instants Python (hence fastavro's reader) can represent: years 0001 to 9999.
DAYS_RANGE: Final = (
    date.min.toordinal() - _EPOCH_ORDINAL,
    date.max.toordinal() - _EPOCH_ORDINAL,
)
_MICROS_RANGE: Final = (
    (datetime.min.replace(tzinfo=UTC) - _EPOCH_UTC) // _MICROSECOND,
    (datetime.max.replace(tzinfo=UTC) - _EPOCH_UTC) // _MICROSECOND,
)
_TIME: Final = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:\.([0-9]{1,9}))?")
_FRACTION: Final = re.compile(r"[0-9]+")
_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_FLOAT32: Final = struct.Struct("<f")
_SHOWN: Final = 40  # characters of a bad value quoted in a reason
_BITS_SHOWN: Final = 128  # larger integers are not quoted (str() of a huge int is slow)


class Invalid(Exception):
    """A value does not fit its type; ``reason`` says why, for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def describe(value: Any) -> str:
    """A value as a reason quotes it: ``string 'abc'``, ``number 1.5``, ``object``, ``null``."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = f"boolean {'true' if value else 'false'}"
    elif isinstance(value, int):
        text = f"number {value}" if value.bit_length() < _BITS_SHOWN else "a number too large"
    elif isinstance(value, float):
        text = f"number {value!r}"
    elif isinstance(value, str):
        text = f"string {value if len(value) <= _SHOWN else value[:_SHOWN] + '…'!r}"
    elif isinstance(value, dict | list | tuple):
        text = "object" if isinstance(value, dict) else "array"
    else:
        text = type(value).__name__
    return text


def expected(what: str, value: Any) -> Invalid:
    return Invalid(f"expected {what}, got {describe(value)}")


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- bytes and fixed: base64 -------------------------------------------------------------------


def base64_to_avro(value: Any, what: str = "bytes (base64)") -> bytes:
    if isinstance(value, str):
        try:
            return binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            raise Invalid(f"not base64 (RFC 4648, with padding): {describe(value)}") from None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise expected(what, value)


def bytes_to_json(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


# --- float: 32 bits -----------------------------------------------------------------------------


def float32_to_json(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float (``0.1``, not
    ``0.10000000149011612``), so a published ``0.1`` is delivered as ``0.1``."""
    for digits in (6, 7, 8, 9):  # 6 significant digits always survive float32; 9 always suffice
        candidate = float(f"{value:.{digits}g}")
        try:
            if _FLOAT32.unpack(_FLOAT32.pack(candidate))[0] == value:
                return candidate
        except OverflowError:
            break
    return value


# --- date ---------------------------------------------------------------------------------------


def date_to_avro(value: Any) -> int:
    if isinstance(value, str):
        if len(value) == 10 and value[4] == "-" and value[7] == "-":  # noqa: PLR2004
            try:
                return date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL
            except ValueError:
                pass
        raise Invalid(f"not a date (YYYY-MM-DD): {describe(value)}")
    if is_integer(value):
        if DAYS_RANGE[0] <= value <= DAYS_RANGE[1]:
            return int(value)
        raise Invalid("date out of range (0001-01-01 to 9999-12-31)")
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.toordinal() - _EPOCH_ORDINAL
    raise expected("a date (YYYY-MM-DD)", value)


def date_to_json(value: date) -> str:
    return value.isoformat()


# --- time of day --------------------------------------------------------------------------------


def _fraction(digits: str | None, places: int, what: str) -> int:
    """``digits`` after the point as a count of 10**-places, refusing lost precision."""
    if not digits:
        return 0
    if len(digits) > places and digits[places:].strip("0"):
        raise Invalid(f"{what} has more than {places} digits after the point")
    return int(digits[:places].ljust(places, "0"))


def time_to_avro(value: Any, places: int, what: str) -> int:
    """Time of day as milliseconds (``places=3``) or microseconds (6) after midnight."""
    per_second = 1000 if places == 3 else 1_000_000  # noqa: PLR2004
    if isinstance(value, str):
        match = _TIME.fullmatch(value)
        if match is None:
            raise Invalid(f"not a time of day (HH:MM:SS[.fff]): {describe(value)}")
        hours, minutes, seconds, digits = match.groups()
        whole = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        return whole * per_second + _fraction(digits, places, what)
    if is_integer(value):
        if 0 <= value < 86_400 * per_second:
            return int(value)
        raise Invalid(f"{what} out of range (0 to {86_400 * per_second - 1})")
    if isinstance(value, time):
        if value.utcoffset() is not None:
            raise Invalid(f"{what} is a time of day without a UTC offset")
        micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000
        micros += value.microsecond
        return micros if places == 6 else _exact_millis(micros, what)  # noqa: PLR2004
    raise expected(f"{what} (HH:MM:SS[.fff])", value)


def time_to_json(value: time, places: int) -> str:
    return value.isoformat(timespec="milliseconds" if places == 3 else "microseconds")  # noqa: PLR2004


def _exact_millis(micros: int, what: str) -> int:
    if micros % 1000:
        raise Invalid(f"{what} has more than 3 digits after the point")
    return micros // 1000


# --- timestamps ---------------------------------------------------------------------------------


def timestamp_to_avro(value: Any, places: int, what: str, *, local: bool) -> int:
    """An instant (``local=False``: an offset is required) or a wall-clock time (``local=True``:
    no offset allowed) as milliseconds (``places=3``) or microseconds (6) since 1970-01-01."""
    if isinstance(value, str):
        micros = _parse_timestamp(value, places, what, local=local)
    elif is_integer(value):
        scale = 1000 if places == 3 else 1  # noqa: PLR2004
        if not _MICROS_RANGE[0] <= value * scale <= _MICROS_RANGE[1]:
            raise Invalid(f"{what} out of range (years 0001 to 9999)")
        return int(value)
    elif isinstance(value, datetime):
        aware = value.utcoffset() is not None
        if aware and local:
            raise Invalid(f"{what} takes a date and time without a UTC offset")
        if not aware and not local:
            raise Invalid(f"{what} needs a UTC offset (a datetime with tzinfo)")
        micros = (value - (_EPOCH_NAIVE if local else _EPOCH_UTC)) // _MICROSECOND
    else:
        raise expected(f"{what} (ISO-8601 text)", value)
    if not _MICROS_RANGE[0] <= micros <= _MICROS_RANGE[1]:
        raise Invalid(f"{what} out of range (years 0001 to 9999)")
    return micros if places == 6 else _exact_millis(micros, what)  # noqa: PLR2004


def timestamp_converter(places: int, what: str, *, local: bool) -> Callable[[Any], int]:
    """:func:`timestamp_to_avro` for one type, with a fast path for the usual ISO-8601 text."""
    epoch = _EPOCH_NAIVE if local else _EPOCH_UTC
    low, high = _MICROS_RANGE

    def convert(value: Any) -> int:
        if (
            type(value) is str
            and len(value) >= 20  # noqa: PLR2004 - "YYYY-MM-DDTHH:MM:SS" and a fraction or zone
            and value[4] == "-"
            and value[7] == "-"
            and value[10] in "Tt "
            and value[13] == ":"
            and value[16] == ":"
            and not value[26:27].isdigit()  # a 7th fractional digit: the thorough path checks it
        ):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None and (parsed.tzinfo is None) is local:
                micros: int = (parsed - epoch) // _MICROSECOND
                if low <= micros <= high:
                    if places == 6:  # noqa: PLR2004
                        return micros
                    if not micros % 1000:
                        return micros // 1000
        return timestamp_to_avro(value, places, what, local=local)  # and why it is invalid

    return convert


def _parse_timestamp(text: str, places: int, what: str, *, local: bool) -> int:
    parsed = None
    if (
        len(text) >= 19  # noqa: PLR2004 - "YYYY-MM-DDTHH:MM:SS": the extended form, with seconds
        and text[4] == "-"
        and text[7] == "-"
        and text[10] in "Tt "
        and text[13] == ":"
        and text[16] == ":"
    ):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(text)
    if parsed is None:
        form = "YYYY-MM-DDTHH:MM:SS[.fff]" + ("" if local else "Z or ±HH:MM")
        raise Invalid(f"not a {what} ({form}): {describe(text)}")
    if local and parsed.tzinfo is not None:
        raise Invalid(f"{what} takes a date and time without a UTC offset: {describe(text)}")
    if not local and parsed.tzinfo is None:
        raise Invalid(f"{what} needs a UTC offset (Z or ±HH:MM): {describe(text)}")
    if len(text) > 19 and text[19] == "." and (fraction := _FRACTION.match(text, 20)):  # noqa: PLR2004
        _fraction(fraction.group(), places, what)  # fromisoformat drops digits past the 6th
    return (parsed - (_EPOCH_NAIVE if local else _EPOCH_UTC)) // _MICROSECOND


def timestamp_to_json(value: datetime, places: int) -> str:
    spec = "milliseconds" if places == 3 else "microseconds"  # noqa: PLR2004
    if value.tzinfo is None:
        return value.isoformat(timespec=spec)
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec=spec)[:-6] + "Z"  # "+00:00" → "Z"


# --- decimal ------------------------------------------------------------------------------------


def decimal_to_unscaled(value: Any, precision: int, scale: int) -> int:
    """The unscaled integer of a decimal(precision, scale): ``"123.45"`` → 12345 at scale 2."""
    number: Decimal
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value) is None:
            raise Invalid(f"not a decimal number: {describe(value)}")
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif is_integer(value):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    else:
        raise expected(f'decimal({precision},{scale}) as a string like "12.30"', value)
    if not number.is_finite():
        raise Invalid("not a finite number")
    if number.is_zero():
        return 0
    if number.adjusted() >= precision - scale:
        raise Invalid(f"decimal has more than {precision - scale} digits before the point")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite numbers have an integer exponent
    lost = -exponent - scale  # digits past the scale: they must be zeros, and are dropped
    if lost > 0:
        if any(digits[-lost:]):
            raise Invalid(f"decimal has more than {scale} digits after the point")
        digits, exponent = digits[:-lost], exponent + lost
    # At most `precision` digits are left (no str → int: Python limits its length).
    unscaled: int = int(Decimal((0, digits, 0))) * 10 ** (exponent + scale)
    return -unscaled if sign else unscaled


def decimal_to_bytes(unscaled: int, size: int | None) -> bytes:
    """Two's complement, big-endian: minimal length (as fastavro writes), or ``size`` (fixed)."""
    if size is None:
        return unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    try:
        return unscaled.to_bytes(size, "big", signed=True)
    except OverflowError:
        raise Invalid(f"decimal does not fit in {size} bytes") from None


def decimal_to_json(value: Decimal) -> str:
    return format(value, "f")


# --- uuid ---------------------------------------------------------------------------------------


def uuid_to_avro(value: Any) -> str:
    if isinstance(value, str):
        if len(value) == 36 and _UUID.fullmatch(value):  # noqa: PLR2004
            return value.lower()
        raise Invalid(f"not a UUID (8-4-4-4-12 hexadecimal digits): {describe(value)}")
    if isinstance(value, uuid.UUID):
        return str(value)
    raise expected("a UUID", value)


def uuid_to_json(value: uuid.UUID | str) -> str:
    return str(value)
