"""Compiled types: the node interface, and the leaves (primitives, logical types, enum, fixed).

Every node has a fast ``convert`` (JSON or Python value → what fastavro writes; raises
:class:`Invalid` at the first problem, builds no paths) and a thorough ``collect`` (every problem,
each with its JSON-pointer path) that runs only once ``convert`` has failed. Leaves collect by
calling ``convert``, so the two never disagree on what a leaf accepts. Logical types reach fastavro
as their underlying ints, strings and bytes, so its writer has nothing left to convert.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from types import NoneType
from typing import Any, Final
from uuid import UUID

from services.core.avro import values as v
from services.core.avro.names import PRIMITIVES, short_name
from services.core.avro.values import Invalid, expected

Convert = Callable[[Any], Any]
MISSING: Final = object()  # a field with no default


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a record does not match its contract.

    ``path`` is a JSON pointer (RFC 6901) into the record as the client sent it: ``/new_address/
    ward_code``, ``/codes/3``, ``/tags/a~1b`` for the map key ``a/b``; ``""`` is the record itself.
    """

    path: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def pointer(path: str, key: str) -> str:
    return f"{path}/{key.replace('~', '~0').replace('/', '~1')}"


class Node:
    """One compiled type. ``identity``: ``convert`` returns valid input unchanged (the caller's
    own object), so a record of identity fields needs no copy. ``json`` turns a decoded value
    into JSON, or is ``None`` when the decoded value is JSON already."""

    label: str  # the type as a reason names it: "int", "date", "Address", "decimal(10,2)"
    avro_name: str  # the branch name in Avro's JSON encoding of unions and in fastavro's tuples
    kinds: tuple[type, ...]  # Python types convert may accept, for picking a union branch
    decoded: tuple[type, ...]  # Python types fastavro's reader returns for it, for to_json
    identity: bool = False
    exact: type | None = None  # values of exactly this type are valid as they are: no call needed
    json: Convert | None = None
    convert: Convert

    def collect(self, value: Any, path: str, errors: list[FieldError]) -> None:
        try:
            self.convert(value)
        except Invalid as exc:
            errors.append(FieldError(path, exc.reason))

    def from_default(self, default: Any) -> Any:
        """A default as the schema writes it (Avro's JSON encoding) → what fastavro writes."""
        return self.convert(default)


class Leaf(Node):
    def __init__(
        self,
        label: str,
        avro_name: str,
        kinds: tuple[type, ...],
        convert: Convert,
        *,
        decoded: tuple[type, ...],
        identity: bool = False,
        exact: type | None = None,
        json: Convert | None = None,
        latin1_default: bool = False,
    ) -> None:
        self.label, self.avro_name, self.kinds, self.decoded = label, avro_name, kinds, decoded
        self.convert, self.identity, self.exact, self.json = convert, identity, exact, json
        self.latin1_default = latin1_default

    def from_default(self, default: Any) -> Any:
        if self.latin1_default and isinstance(default, str):
            try:
                default = default.encode("latin-1")  # Avro writes bytes defaults as \u00XX text
            except UnicodeEncodeError:
                raise Invalid("a bytes default holds characters above \\u00ff") from None
        return self.convert(default)


# --- primitives ---------------------------------------------------------------------------------


def _null(value: Any) -> None:
    if value is None:
        return None
    raise expected("null", value)


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise expected("boolean", value)


def _string(value: Any) -> str:
    if type(value) is str or isinstance(value, str):
        return value
    raise expected("string", value)


def _integer(low: int, high: int, label: str) -> Convert:
    def convert(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        if v.is_integer(value):
            if low <= value <= high:
                return int(value)
            raise Invalid(f"out of range for {label} ({low} to {high})")
        raise expected(label, value)

    return convert


def _floating(limit: float, label: str) -> Convert:
    """A JSON number (integers too) within the type's finite range; ints stay ints."""

    def convert(value: Any) -> Any:
        if type(value) is float and -limit <= value <= limit:
            return value
        if v.is_integer(value) or isinstance(value, float):
            if -limit <= value <= limit:
                return value
            if isinstance(value, float) and not math.isfinite(value):
                raise Invalid("not a finite number")
            raise Invalid(f"out of range for {label}")
        raise expected(label, value)

    return convert


_BYTES_IN: Final = (str, bytes, bytearray, memoryview)


def _plain(
    label: str, kinds: tuple[type, ...], decoded: type, convert: Convert, exact: type | None = None
) -> Leaf:
    return Leaf(label, label, kinds, convert, decoded=(decoded,), identity=True, exact=exact)


PRIMITIVE_NODES: Final[dict[str, Node]] = {
    "null": _plain("null", (NoneType,), NoneType, _null, NoneType),
    "boolean": _plain("boolean", (bool,), bool, _boolean, bool),
    "int": _plain("int", (int,), int, _integer(*v.INT_RANGE, "int")),
    "long": _plain("long", (int,), int, _integer(*v.LONG_RANGE, "long")),
    "float": Leaf(
        "float",
        "float",
        (int, float),
        _floating(v.FLOAT_MAX, "float"),
        decoded=(float,),
        identity=True,
        json=v.float32_to_json,
    ),
    "double": _plain("double", (int, float), float, _floating(v.DOUBLE_MAX, "double")),
    "string": _plain("string", (str,), str, _string, str),
    "bytes": Leaf(
        "bytes",
        "bytes",
        _BYTES_IN,
        v.base64_to_avro,
        decoded=(bytes,),
        json=v.bytes_to_json,
        latin1_default=True,
    ),
}
assert set(PRIMITIVE_NODES) == PRIMITIVES  # noqa: S101 - a table kept complete


# --- logical types (keyed as fastavro keys them: "<underlying>-<logicalType>") ------------------

_TIMES: Final = {"int-time-millis": 3, "long-time-micros": 6}
_TIMESTAMPS: Final = {
    "long-timestamp-millis": (3, False),
    "long-timestamp-micros": (6, False),
    "long-local-timestamp-millis": (3, True),
    "long-local-timestamp-micros": (6, True),
}


def logical_node(schema: Mapping[str, Any], avro_name: str) -> Node | None:
    """The node of a type with a ``logicalType`` fastavro applies, else ``None`` (ignored)."""
    logical = str(schema.get("logicalType"))
    key = f"{schema.get('type')}-{logical}"
    if key == "int-date":
        return Leaf(
            "date",
            avro_name,
            (str, int, date),
            v.date_to_avro,
            decoded=(date,),
            json=v.date_to_json,
        )
    if key in _TIMES:
        places = _TIMES[key]
        return Leaf(
            logical,
            avro_name,
            (str, int, time),
            partial(_time, places, logical),
            decoded=(time,),
            json=partial(v.time_to_json, places=places),
        )
    if key in _TIMESTAMPS:
        places, local = _TIMESTAMPS[key]
        return Leaf(
            logical,
            avro_name,
            (str, int, datetime),
            v.timestamp_converter(places, logical, local=local),
            decoded=(datetime,),
            json=partial(v.timestamp_to_json, places=places),
        )
    if key == "string-uuid":
        return Leaf(
            "uuid",
            avro_name,
            (str, UUID),
            v.uuid_to_avro,
            decoded=(UUID,),
            json=v.uuid_to_json,
        )
    if key in ("bytes-decimal", "fixed-decimal"):
        return _decimal(schema, avro_name)
    return None


def _time(places: int, label: str, value: Any) -> int:
    return v.time_to_avro(value, places, label)


def _decimal(schema: Mapping[str, Any], avro_name: str) -> Node | None:
    precision, scale = schema.get("precision"), schema.get("scale", 0)
    size = schema.get("size") if schema.get("type") == "fixed" else None
    if not (isinstance(precision, int) and isinstance(scale, int) and 0 <= scale <= precision):
        return None  # an invalid logical type is ignored: the underlying type applies
    if isinstance(precision, bool) or isinstance(scale, bool) or precision < 1:
        return None

    def convert(value: Any) -> bytes:
        if isinstance(value, bytes):  # two's complement already: a default, or a raw value
            return value if size is None or len(value) == size else _bad_size(size, value)
        return v.decimal_to_bytes(v.decimal_to_unscaled(value, precision, scale), size)

    return Leaf(
        f"decimal({precision},{scale})",
        avro_name,
        (str, int, float, Decimal, bytes),
        convert,
        decoded=(Decimal,),
        json=v.decimal_to_json,
        latin1_default=True,
    )


def _bad_size(size: int, value: bytes) -> bytes:
    raise Invalid(f"expected {size} bytes, got {len(value)}")


def enum_node(full: str, symbols: list[str]) -> Node:
    allowed = frozenset(symbols)
    shown = ", ".join(symbols[:_SYMBOLS_SHOWN])
    if len(symbols) > _SYMBOLS_SHOWN:
        shown += f", … ({len(symbols)} in all)"

    def convert(value: Any) -> str:
        if type(value) is str and value in allowed:
            return value
        if isinstance(value, str):
            raise Invalid(f"not one of the enum symbols [{shown}]")
        raise expected(f"one of the enum symbols [{shown}]", value)

    return Leaf(short_name(full), full, (str,), convert, decoded=(str,), identity=True)


_SYMBOLS_SHOWN: Final = 20


def fixed_node(full: str, size: int) -> Node:
    def convert(value: Any) -> bytes:
        data = v.base64_to_avro(value, f"{size} bytes (base64)")
        return data if len(data) == size else _bad_size(size, data)

    return Leaf(
        short_name(full),
        full,
        _BYTES_IN,
        convert,
        decoded=(bytes,),
        json=v.bytes_to_json,
        latin1_default=True,
    )
