"""The values ``sql-sink`` writes: each checked against its column's type before any statement runs,
and, for a table it creates, a column type taken from a value.

:func:`fit` gives a value as its column takes it, or raises :class:`Unfit` saying why it cannot: a
text where a number goes, an integer too large for its column's bits (all 64 in SQLite), a number
with more digits before the point than its precision leaves, a text longer than the column or not
one of its enum's values, NULL in a NOT NULL column. Catching these first lets the sink reject the
one record with a reason instead of the database refusing the whole batch. Nested values (records,
arrays, maps) go to JSON columns as they are and to text columns as JSON text; a datetime goes to a
column without time zone (or to SQLite, which keeps none) in UTC.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    Uuid,
)
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine

REPR_CHARS: Final = 60  # characters of a value quoted in a reason


class Unfit(Exception):
    """A value its column cannot take."""


def column_type(value: Any, dialect: str) -> TypeEngine[Any] | None:
    """A column type that takes ``value``; None when ``value`` is None (nothing to go by)."""
    if value is None:
        return None
    simple: list[tuple[type | tuple[type, ...], TypeEngine[Any]]] = [
        (bool, Boolean()),
        (int, BigInteger()),
        (float, Double()),
        (Decimal, Numeric()),
        (datetime, DateTime(timezone=getattr(value, "tzinfo", None) is not None)),
        (date, Date()),
        (time, Time()),
        ((bytes, bytearray), LargeBinary()),
        # SQLite has no UUID type: its text form, which reads back as what was written
        (uuid.UUID, Uuid() if dialect == "postgresql" else String(36)),
    ]
    for kind, column in simple:
        if isinstance(value, kind):
            return column
    return Text()  # str, and nested values as JSON text


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= REPR_CHARS else text[: REPR_CHARS - 3] + "..."


def _integer_bits(kind: TypeEngine[Any], naive: bool) -> int:
    if naive or isinstance(kind, BigInteger):  # SQLite's integers are all 64-bit
        return 64
    return 16 if isinstance(kind, SmallInteger) else 32


def fit(column: Column[Any], value: Any, json_value: Any, *, naive: bool) -> Any:
    """``value`` as ``column`` takes it, or :class:`Unfit` saying why it cannot."""
    if value is None:
        if not column.nullable:
            raise Unfit("NULL in a NOT NULL column")
        return None
    for kind, convert in CONVERTERS:
        if isinstance(column.type, kind):
            return convert(column.type, value, json_value, naive)
    return value  # a type we do not know: the database decides


def _boolean(_kind: Any, value: Any, _json: Any, _naive: bool) -> bool:
    if not isinstance(value, bool):
        raise Unfit(f"{_show(value)} is not a boolean")
    return value


def _integer(kind: TypeEngine[Any], value: Any, _json: Any, naive: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unfit(f"{_show(value)} is not an integer")
    bits = _integer_bits(kind, naive)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise Unfit(f"{value} does not fit in {bits} bits")
    return value


def _number(kind: sqltypes.Numeric[Any], value: Any, _json: Any, _naive: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Unfit(f"{_show(value)} is not a number")
    if isinstance(kind, sqltypes.Float):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise Unfit(f"{value} is not a finite number")
    precision, scale = kind.precision, kind.scale or 0
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if precision is not None and number != 0:
        digits = number.adjusted() + 1  # digits before the point
        if digits > precision - scale:
            raise Unfit(f"{value} has more than {precision - scale} digits before the point")
    return number if kind.asdecimal else float(number)


def _datetime(kind: sqltypes.DateTime, value: Any, _json: Any, naive: bool) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise Unfit(f"{_show(value)} is not a date and time") from None
    if not isinstance(value, datetime):
        raise Unfit(f"{_show(value)} is not a date and time")
    if naive or not kind.timezone:
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _date_or_time(kind: TypeEngine[Any], value: Any, _json: Any, _naive: bool) -> date | time:
    wanted: type[date | time] = date if isinstance(kind, sqltypes.Date) else time
    if isinstance(value, str):
        try:
            value = wanted.fromisoformat(value)
        except ValueError:
            raise Unfit(f"{_show(value)} is not a {wanted.__name__}") from None
    # a datetime is a date to Python, but its time would be lost without a word
    if not isinstance(value, wanted) or isinstance(value, datetime):
        raise Unfit(f"{_show(value)} is not a {wanted.__name__}")
    return value


def _bytes(_kind: Any, value: Any, _json: Any, _naive: bool) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise Unfit(f"{_show(value)} is not bytes")
    return bytes(value)


def _uuid(_kind: Any, value: Any, _json: Any, _naive: bool) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Unfit(f"{_show(value)} is not a UUID") from None


def _json_of(value: Any, json_value: Any) -> Any:
    """The JSON form of ``value``: the record's canonical one when the worker gave it."""
    if json_value is not None:
        return json_value
    return json.loads(json.dumps(value, default=str))


def _json(_kind: Any, value: Any, json_value: Any, _naive: bool) -> Any:
    return _json_of(value, json_value)


def _text(kind: sqltypes.String, value: Any, json_value: Any, _naive: bool) -> str:
    if isinstance(value, str):
        text = value
    else:
        form = _json_of(value, json_value)
        text = form if isinstance(form, str) else json.dumps(form, ensure_ascii=False, default=str)
    if isinstance(kind, sqltypes.Enum) and kind.enums and text not in kind.enums:
        raise Unfit(f"{_show(text)} is not one of {kind.enums}")
    if kind.length is not None and len(text) > kind.length:
        raise Unfit(f"{len(text)} characters, more than {kind.length}")
    return text


# By the column's type, first match: Float is a Numeric (``_number`` knows), Enum is a String, and
# LargeBinary and PostgreSQL's BYTEA share only the private _Binary.
CONVERTERS: Final[list[tuple[type[Any], Callable[[Any, Any, Any, bool], Any]]]] = [
    (sqltypes.JSON, _json),
    (sqltypes.Boolean, _boolean),
    (sqltypes.Integer, _integer),
    (sqltypes.Numeric, _number),
    (sqltypes.DateTime, _datetime),
    (sqltypes.Date, _date_or_time),
    (sqltypes.Time, _date_or_time),
    (sqltypes._Binary, _bytes),
    (sqltypes.Uuid, _uuid),
    (sqltypes.String, _text),
]
