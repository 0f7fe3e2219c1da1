"""Simple record transforms any connector can be configured with, applied by the worker in order.

A connector's ``transforms`` key is a list of objects (natural in JSON and in the YAML deployment
files), each with a ``type``, checked once by :func:`build_transforms` into an immutable
:class:`Transforms` that the worker applies to every record's value and key:

- ``rename`` ``{"fields": {"old": "new"}}``: top-level names (a source column may have a ``.`` in
  its name: rename it first); a missing field is left alone; a new name the record already has is
  an error, not an overwrite.
- ``drop`` ``{"fields": ["a", "b"]}``.
- ``cast`` ``{"fields": {"age": "int"}}``: ``int``, ``float``, ``boolean`` (true/false/1/0/yes/no),
  ``string``, ``date`` (``YYYY-MM-DD`` or the day-first ``dd/mm/yyyy`` of Vietnamese exports, to
  ``YYYY-MM-DD``), ``timestamp`` (ISO 8601; without an offset it is UTC; to ISO 8601 with its
  offset, ``Z`` for UTC), ``decimal`` (to the exact decimal as a string, never through a float).
  Casts never lose information silently: ``"4.5"`` is not an int.
- ``mask`` ``{"fields": ["phone"], "keep_last": 4, "char": "*"}``: every character but the last
  ``keep_last`` replaced (characters, not bytes: text is NFC-normalized first, so a Vietnamese
  ``ễ`` is one character whatever form the source sent it in). A value no longer than
  ``keep_last`` is kept whole, and masking keeps the length.
- ``hash`` ``{"fields": ["citizen_id"], "key": "${env:NAME}"}``: HMAC-SHA256 with a secret key, as
  lower-case hex. A plain hash would not hide anything here: there are only 10^12 twelve-digit
  citizen ids, and hashing them all to look one up takes minutes. Without the key the digests can
  not be recomputed, and with the same key the same id gives the same digest, so records still join.
  The key is given inline or, better, as ``${env:NAME}`` (read from the environment once, when the
  connector is configured).
- ``key`` ``{"fields": ["province", "id"], "separator": ":"}``: the record's Kafka key.
- ``insert`` ``{"field": "f", "value": <any JSON>}`` or ``{"field": "f", "timestamp": true}`` (the
  time the record is transformed, UTC, ``YYYY-MM-DDTHH:MM:SS.fffZ``); overwrites.

``drop``, ``cast``, ``mask``, ``hash`` and ``key`` take dotted paths into nested objects
(``address.street``): contract field names never contain dots. ``None`` and missing values pass
``cast``, ``mask`` and ``hash`` unchanged. A record a transform cannot handle raises
:class:`TransformError`; the worker dead-letters it with the message, which names the transform.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from services.core.avro.values import describe


class TransformError(ValueError):
    """A record the chain cannot transform; the worker dead-letters it with this message."""


# --- records: copied on write ------------------------------------------------------------------

_MISSING: Final = object()
Path = tuple[str, ...]


class _Record:
    """The value being transformed. Objects are copied on the way to a write, once each, so the
    caller's value is never changed and untouched parts are shared, not copied."""

    __slots__ = ("_own", "root")

    def __init__(self, value: Mapping[str, Any]) -> None:
        self.root: dict[str, Any] = dict(value)
        # Kept alive here, so an id in this table is never reused by another object meanwhile.
        self._own: dict[int, dict[str, Any]] = {id(self.root): self.root}

    def get(self, path: Path) -> Any:
        node: Any = self.root
        for name in path:
            if not isinstance(node, Mapping) or name not in node:
                return _MISSING
            node = node[name]
        return node

    def parent(self, path: Path) -> dict[str, Any] | None:
        """The object holding the path's last name, ours to change; None if there is none."""
        node = self.root
        for name in path[:-1]:
            child = node.get(name)
            if not isinstance(child, Mapping):
                return None
            owned = self._own.get(id(child))
            node = owned if owned is not None else self._copy(node, name, child)
        return node

    def _copy(self, parent: dict[str, Any], name: str, child: Mapping[str, Any]) -> dict[str, Any]:
        copied = parent[name] = dict(child)
        self._own[id(copied)] = copied
        return copied

    def set(self, path: Path, value: Any) -> None:
        parent = self.parent(path)
        if parent is not None:
            parent[path[-1]] = value


Step = Callable[[_Record, str | None], str | None]


# --- values ------------------------------------------------------------------------------------


class _Uncastable(ValueError):
    """A value that has no form of the type asked; the message, if any, says why."""


_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_FIRST: Final = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_SUB_MICROSECOND: Final = re.compile(r"[.,][0-9]{7}")
_MAX_EXPONENT: Final = 1000  # "1e999999999" would otherwise expand to a billion digits
_MAX_PLAIN_EXPONENT: Final = 64
_BOOLEANS: Final = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _text(value: Any) -> str:
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
            raise _Uncastable("bytes that are not UTF-8 text") from None
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_text)
    raise _Uncastable()


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
        raise _Uncastable("not a number")
    if not number.is_finite():
        raise _Uncastable("not a finite number")
    if abs(int(number.as_tuple().exponent)) > _MAX_EXPONENT:
        raise _Uncastable("exponent out of range")
    return number


def _to_int(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    number = _decimal(value)
    if number != number.to_integral_value():
        raise _Uncastable("not a whole number")
    return int(number)


def _to_float(value: Any) -> float:
    number = float(value) if isinstance(value, int | float) else float(_decimal(value))
    if not math.isfinite(number):
        raise _Uncastable("not a finite number in a double's range")
    return number


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):  # a tuple: no hash of NaN
        return bool(value)
    if isinstance(value, str) and (found := _BOOLEANS.get(value.strip().lower())) is not None:
        return found
    raise _Uncastable("expected true/false, 1/0 or yes/no")


def _to_date(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time():  # Oracle's DATE comes as a datetime
            return value.date().isoformat()
        raise _Uncastable("has a time of day or a UTC offset")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.fullmatch(text):
            year, month, day = map(int, text.split("-"))
            return date(year, month, day).isoformat()
        if match := _DAY_FIRST.fullmatch(text):
            day, month, year = map(int, match.groups())
            return date(year, month, day).isoformat()
    raise _Uncastable("expected YYYY-MM-DD or dd/mm/yyyy")


def _to_timestamp(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - UTC, below
    elif isinstance(value, str):
        text = value.strip()
        if _SUB_MICROSECOND.search(text):
            raise _Uncastable("finer than microseconds")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise _Uncastable("expected ISO 8601, e.g. 2025-03-14T09:30:15+07:00") from None
    else:
        raise _Uncastable()
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return _iso(moment)


def _iso(moment: datetime) -> str:
    micros = moment.microsecond
    spec = "seconds" if not micros else "milliseconds" if not micros % 1000 else "microseconds"
    text = moment.isoformat(timespec=spec)
    return text[:-6] + "Z" if moment.utcoffset() == timedelta(0) else text


CastType = Literal["int", "float", "boolean", "string", "date", "timestamp", "decimal"]
_CASTS: Final[dict[str, Callable[[Any], Any]]] = {
    "int": _to_int,
    "float": _to_float,
    "boolean": _to_boolean,
    "string": _text,
    "date": _to_date,
    "timestamp": _to_timestamp,
    "decimal": lambda value: _plain(_decimal(value)),
}


def _failure(field: str, what: str, value: Any, exc: Exception) -> TransformError:
    """``what`` is a template for the value: ``"cast {} to int"``."""
    reason = f": {exc}" if str(exc) else ""
    return TransformError(f"field {field!r}: cannot {what.format(describe(value))}{reason}")


def _map_fields(fields: Mapping[str, Callable[[Any], Any]], what: Mapping[str, str]) -> Step:
    """A step replacing each present, non-null field's value by ``fields[field](value)``."""
    paths = [(name, tuple(name.split(".")), convert) for name, convert in fields.items()]

    def step(record: _Record, key: str | None) -> str | None:
        for name, path, convert in paths:
            value = record.get(path)
            if value is _MISSING or value is None:
                continue
            try:
                record.set(path, convert(value))
            except (ValueError, ArithmeticError) as exc:
                raise _failure(name, what[name], value, exc) from None
        return key

    return step


# --- specs -------------------------------------------------------------------------------------


def _check_path(path: str) -> str:
    if not all(path.split(".")):
        raise ValueError(f"{path!r} is not a field name or a dotted path like 'address.street'")
    return path


def _check_name(name: str) -> str:
    if not name or "." in name:
        raise ValueError(f"{name!r} is not a top-level field name (no '.')")
    return name


FieldPath = Annotated[str, AfterValidator(_check_path)]
FieldName = Annotated[str, AfterValidator(_check_name)]
_ENV_KEY: Final = re.compile(r"\$\{env:([^}]*)\}")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MIN_KEY_LENGTH: Final = 16  # an 8-character key falls to one known (id, digest) pair offline


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    def step(self) -> Step:
        raise NotImplementedError


class RenameSpec(_Spec):
    type: Literal["rename"]
    fields: dict[str, FieldName] = Field(min_length=1, description="Old name → new name.")

    @field_validator("fields")
    @classmethod
    def _distinct(cls, fields: dict[str, str]) -> dict[str, str]:
        targets = list(fields.values())
        if twice := sorted({name for name in targets if targets.count(name) > 1}):
            raise ValueError(f"several fields renamed to {twice[0]!r}")
        return fields

    def step(self) -> Step:
        renames = dict(self.fields)

        def rename(record: _Record, key: str | None) -> str | None:
            root = record.root
            if not any(old in root for old in renames):
                return key
            for old, new in renames.items():
                if old in root and new in root and new not in renames:
                    raise TransformError(f"cannot rename {old!r} to {new!r}: the record has both")
            renamed = {renames.get(name, name): value for name, value in root.items()}
            root.clear()
            root.update(renamed)
            return key

        return rename


class DropSpec(_Spec):
    type: Literal["drop"]
    fields: list[FieldPath] = Field(min_length=1)

    def step(self) -> Step:
        paths = [tuple(name.split(".")) for name in self.fields]

        def drop(record: _Record, key: str | None) -> str | None:
            for path in paths:
                if record.get(path) is not _MISSING:
                    parent = record.parent(path)
                    if parent is not None:
                        del parent[path[-1]]
            return key

        return drop


class CastSpec(_Spec):
    type: Literal["cast"]
    fields: dict[FieldPath, CastType] = Field(min_length=1, description="Field → type.")

    def step(self) -> Step:
        converters = {name: _CASTS[kind] for name, kind in self.fields.items()}
        return _map_fields(
            converters, {name: f"cast {{}} to {kind}" for name, kind in self.fields.items()}
        )


class MaskSpec(_Spec):
    type: Literal["mask"]
    fields: list[FieldPath] = Field(min_length=1)
    keep_last: int = Field(default=0, ge=0, description="Characters left visible at the end.")
    char: str = Field(default="*", min_length=1, max_length=1)

    def step(self) -> Step:
        keep, char = self.keep_last, self.char

        def mask(value: Any) -> str:
            text = unicodedata.normalize("NFC", _text(value))
            hidden = max(len(text) - keep, 0)
            return char * hidden + text[hidden:]

        return _map_fields(dict.fromkeys(self.fields, mask), dict.fromkeys(self.fields, "mask {}"))


class HashSpec(_Spec):
    type: Literal["hash"]
    fields: list[FieldPath] = Field(min_length=1)
    key: str = Field(repr=False, description="The HMAC key, or ${env:NAME} to read it from NAME.")

    @field_validator("key")
    @classmethod
    def _resolve(cls, key: str) -> str:
        if match := _ENV_KEY.fullmatch(key):
            name = match.group(1)
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            key = os.environ.get(name, "")
            if not key:
                raise ValueError(f"the environment variable {name} is not set")
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_KEY_LENGTH} characters: a short key is guessed"
            )
        return key

    def step(self) -> Step:
        secret = self.key.encode()

        def digest(value: Any) -> str:
            text = unicodedata.normalize("NFC", _text(value))
            return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()

        return _map_fields(
            dict.fromkeys(self.fields, digest), dict.fromkeys(self.fields, "hash {}")
        )


class KeySpec(_Spec):
    type: Literal["key"]
    fields: list[FieldPath] = Field(min_length=1)
    separator: str = ":"

    def step(self) -> Step:
        paths = [(name, tuple(name.split("."))) for name in self.fields]
        separator = self.separator

        def make_key(record: _Record, key: str | None) -> str | None:
            parts = []
            for name, path in paths:
                value = record.get(path)
                if value is _MISSING or value is None:
                    state = "missing" if value is _MISSING else "null"
                    raise TransformError(f"key field {name!r} is {state}")
                if isinstance(value, Mapping | list | tuple):
                    raise TransformError(f"key field {name!r} is {describe(value)}, not a value")
                try:
                    parts.append(_text(value))
                except _Uncastable as exc:
                    raise _failure(name, "make a key of {}", value, exc) from None
            return separator.join(parts)

        return make_key


class InsertSpec(_Spec):
    type: Literal["insert"]
    field: FieldName
    value: Any = None
    timestamp: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if ("value" in self.model_fields_set) == self.timestamp:
            raise ValueError("give exactly one of 'value' and 'timestamp': true")
        return self

    def step(self) -> Step:
        name, value, timestamp = self.field, self.value, self.timestamp

        def insert(record: _Record, key: str | None) -> str | None:
            if timestamp:
                now = datetime.now(UTC)
                record.root[name] = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"
            else:  # a copy per record: a later step may change an inserted object
                record.root[name] = copy.deepcopy(value)
            return key

        return insert


TransformSpec = Annotated[
    RenameSpec | DropSpec | CastSpec | MaskSpec | HashSpec | KeySpec | InsertSpec,
    Field(discriminator="type"),
]
_SPEC: Final = TypeAdapter(TransformSpec)


# --- the chain ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transforms:
    """A connector's checked transforms, built once by :func:`build_transforms`."""

    steps: tuple[tuple[str, Step], ...] = ()

    def apply(self, value: Mapping[str, Any], key: str | None) -> tuple[dict[str, Any], str | None]:
        """The record's value and key after every transform in order (value is not mutated)."""
        record = _Record(value)
        for label, step in self.steps:
            try:
                key = step(record, key)
            except TransformError as exc:
                raise TransformError(f"{label}: {exc}") from None
        return record.root, key

    def __bool__(self) -> bool:
        return bool(self.steps)


def build_transforms(specs: Any) -> Transforms:
    """Parse the connector config's ``transforms`` value (None or a list of objects); raises
    ``ValueError`` with a message naming the transform index and the problem for a bad spec."""
    if specs is None:
        return Transforms()
    if not isinstance(specs, list):
        problem = f"transforms must be a list of objects, got {describe(specs)}"
        raise ValueError(problem)  # noqa: TRY004 - the interface: a bad config is a ValueError
    steps: list[tuple[str, Step]] = []
    for index, item in enumerate(specs):
        label = f"transforms[{index}]"
        if not isinstance(item, Mapping):
            problem = f"{label} must be an object with a 'type', got {describe(item)}"
            raise ValueError(problem)  # noqa: TRY004 - as above
        if isinstance(item.get("type"), str):
            label += f" ({item['type']})"
        try:
            spec = _SPEC.validate_python(item)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors())
            raise ValueError(f"{label}: {problems}") from None
        steps.append((label, spec.step()))
    return Transforms(tuple(steps))


def _problem(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "union_tag_not_found":
        return f"'type' is required, one of {_TYPES}"
    if kind == "union_tag_invalid":
        return f"unknown type {ctx.get('tag')!r}, expected one of {_TYPES}"
    where = ".".join(map(str, error["loc"][1:]))  # loc[0] is the type, the label says it
    if kind == "extra_forbidden":
        return f"unknown key {where!r}"
    message = str(ctx["error"]) if kind == "value_error" and "error" in ctx else error["msg"]
    return f"{where}: {message}" if where else message


_TYPES: Final = "rename, drop, cast, mask, hash, key, insert"
