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

The conversions of ``cast`` (and the text ``mask``, ``hash`` and ``key`` read) are in
:mod:`.casting`; the copy of the value the steps change, in :mod:`.working_copy`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self

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

from services.connectors.casting import CASTS, CastType, Uncastable, to_text
from services.connectors.working_copy import MISSING, WorkingCopy
from services.core.avro.values import describe
from services.core.kafka.headers import utc_millis


class TransformError(ValueError):
    """A record the chain cannot transform; the worker dead-letters it with this message."""


# --- steps -------------------------------------------------------------------------------------

Step = Callable[[WorkingCopy, str | None], str | None]


def _failure(field: str, what: str, value: Any, exc: Exception) -> TransformError:
    """``what`` is a template for the value: ``"cast {} to int"``."""
    reason = f": {exc}" if str(exc) else ""
    return TransformError(f"field {field!r}: cannot {what.format(describe(value))}{reason}")


def _map_fields(fields: Mapping[str, Callable[[Any], Any]], what: Mapping[str, str]) -> Step:
    """A step replacing each present, non-null field's value by ``fields[field](value)``."""
    paths = [(name, tuple(name.split(".")), convert) for name, convert in fields.items()]

    def step(record: WorkingCopy, key: str | None) -> str | None:
        for name, path, convert in paths:
            value = record.get(path)
            if value is MISSING or value is None:
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

        def rename(record: WorkingCopy, key: str | None) -> str | None:
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

        def drop(record: WorkingCopy, key: str | None) -> str | None:
            for path in paths:
                if record.get(path) is not MISSING:
                    parent = record.parent(path)
                    if parent is not None:
                        del parent[path[-1]]
            return key

        return drop


class CastSpec(_Spec):
    type: Literal["cast"]
    fields: dict[FieldPath, CastType] = Field(min_length=1, description="Field → type.")

    def step(self) -> Step:
        converters = {name: CASTS[kind] for name, kind in self.fields.items()}
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
            text = unicodedata.normalize("NFC", to_text(value))
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
            text = unicodedata.normalize("NFC", to_text(value))
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

        def make_key(record: WorkingCopy, key: str | None) -> str | None:
            parts = []
            for name, path in paths:
                value = record.get(path)
                if value is MISSING or value is None:
                    state = "missing" if value is MISSING else "null"
                    raise TransformError(f"key field {name!r} is {state}")
                if isinstance(value, Mapping | list | tuple):
                    raise TransformError(f"key field {name!r} is {describe(value)}, not a value")
                try:
                    parts.append(to_text(value))
                except Uncastable as exc:
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

        def insert(record: WorkingCopy, key: str | None) -> str | None:
            if timestamp:
                record.root[name] = utc_millis(datetime.now(UTC))
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
        record = WorkingCopy(value)
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
