"""Values that arrive as text, converted to the types of the dataset's contract before validation.

A CSV cell is always a string, and JSON, XML and REST APIs often send numbers, flags and dates as
strings too. A source plugin whose ``Config`` is a :class:`TextValues` (``file-source``,
``rest-source``) gets every string of a record converted to the type its field has in the
contract, after the connector's transforms and before the codec validates the record:

- ``int``, ``long``: a whole number (``"42"``, ``" 42 "``, ``"4.0"``; ``"4.5"`` is not one);
- ``float``, ``double``: a finite number (``"3.14"``, ``"1e-3"``);
- ``boolean``: true/false, yes/no, 1/0, in any case;
- ``date``: ``YYYY-MM-DD``, or ``date_format`` (``strptime``'s codes, e.g. ``%d/%m/%Y``); without
  one also the day-first ``dd/mm/yyyy`` of Vietnamese exports;
- ``timestamp-millis``, ``timestamp-micros``: ``timestamp_format``, or ISO 8601; a time without a
  UTC offset is a wall-clock time in ``timezone`` (default ``Asia/Ho_Chi_Minh``: the legacy
  systems of Vietnamese agencies write local time). ``local-timestamp-*`` keep no zone;
- ``decimal``: the exact decimal text (never through a float); the codec checks its scale;
- a union with ``null`` (``["null", "int"]``): an empty or blank string is null, unless a
  branch takes the string as it is (``["null", "string"]`` keeps ``""``).

Other strings (``string``, enums, ``uuid``, ``time-*``, bytes) and values that are not strings are
left as they are: the codec judges them. A string that cannot be converted fails the record, with
a reason naming each field (its JSON pointer) and what is wrong, never the value itself: it may be
personal data, and a DLQ's reason headers are read more widely than its records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from services.connectors.casting import (
    Uncastable,
    parse_date,
    parse_timestamp,
    to_boolean,
    to_decimal_text,
    to_float,
    to_int,
)
from services.connectors.plugin import PluginConfig
from services.core.avro.compiler import Array, Map, Record, Union
from services.core.avro.names import PRIMITIVES
from services.core.avro.nodes import Leaf, Node, pointer
from services.core.avro.values import Invalid

DEFAULT_TIMEZONE: Final = "Asia/Ho_Chi_Minh"

Convert = Callable[[Any, str, list[str]], Any]
"""``(value, its JSON pointer, problems)`` → the converted value; problems are appended."""


class TextValues(PluginConfig):
    """The settings of a source whose values arrive as text: how its dates and times read."""

    date_format: str | None = Field(
        default=None,
        description="strptime format of date fields besides YYYY-MM-DD, e.g. %d/%m/%Y; "
        "default: YYYY-MM-DD or dd/mm/yyyy.",
    )
    timestamp_format: str | None = Field(
        default=None,
        description="strptime format of timestamp fields besides ISO 8601, e.g. "
        "%d/%m/%Y %H:%M:%S; default: ISO 8601 only.",
    )
    timezone: str = Field(
        default=DEFAULT_TIMEZONE,
        description="IANA time zone of timestamps written without a UTC offset.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_of(name)
        return name

    @field_validator("date_format", "timestamp_format")
    @classmethod
    def _has_codes(cls, fmt: str | None) -> str | None:
        if fmt is not None and "%" not in fmt:
            raise ValueError("a strptime format has % codes, e.g. %d/%m/%Y")
        return fmt


def zone_of(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name, e.g. Asia/Ho_Chi_Minh)"
        ) from None


class Unconvertible(ValueError):
    """A record with strings that have no form of their fields' types; the message names them."""


Converter = Callable[[Any], Any]


def text_converter(root: Node, formats: TextValues) -> Converter:
    """The function converting a record of the contract compiled as ``root``: it returns the
    record with its strings converted (a new dict; the given one is not changed), or raises
    :class:`Unconvertible` listing every field that could not be converted."""
    convert = _Plan(formats).node(root) or _same

    def run(record: Any) -> Any:
        problems: list[str] = []
        converted = convert(record, "", problems)
        if problems:
            raise Unconvertible("; ".join(problems))
        return converted

    return run


def _same(value: Any, path: str, problems: list[str]) -> Any:
    return value


class _Plan:
    """Builds the converter of each node once (a recursive record's refers to itself)."""

    def __init__(self, formats: TextValues) -> None:
        zone = zone_of(formats.timezone)
        self.leaves: dict[str, Callable[[str], Any]] = {
            "int": to_int,
            "long": to_int,
            "float": to_float,
            "double": to_float,
            "boolean": to_boolean,
            "date": partial(parse_date, fmt=formats.date_format),
            "timestamp-millis": partial(parse_timestamp, fmt=formats.timestamp_format, zone=zone),
            "timestamp-micros": partial(parse_timestamp, fmt=formats.timestamp_format, zone=zone),
            "local-timestamp-millis": partial(_local, formats.timestamp_format),
            "local-timestamp-micros": partial(_local, formats.timestamp_format),
        }
        self.done: dict[int, Convert | None] = {}
        self.building: set[int] = set()

    def node(self, node: Node) -> Convert | None:
        """The node's converter, or None when no value of it is ever converted."""
        key = id(node)
        if key in self.building:  # a record met again inside itself: looked up when used
            return partial(self._late, key)
        if key not in self.done:
            self.building.add(key)
            self.done[key] = self._build(node)
            self.building.discard(key)
        return self.done[key]

    def _build(self, node: Node) -> Convert | None:
        if isinstance(node, Record):
            return self._record(node)
        if isinstance(node, Union):
            return self._union(node)
        if isinstance(node, Array):
            items = self.node(node.items)
            return None if items is None else partial(_array, items)
        if isinstance(node, Map):
            values = self.node(node.values)
            return None if values is None else partial(_map, values)
        if isinstance(node, Leaf):
            return self._leaf(node)
        return None

    def _leaf(self, node: Leaf) -> Convert | None:
        parse = self.leaves.get(node.label) if node.avro_name in PRIMITIVES else None
        if Decimal in node.kinds:  # decimal(p,s), on bytes or a named fixed
            parse = to_decimal_text
        if parse is None:
            return None
        return partial(_leaf, parse, node.label)

    def _record(self, node: Record) -> Convert | None:
        fields = [(name, c) for name, field, _ in node.fields if (c := self.node(field))]
        return partial(_record, tuple(fields)) if fields else None

    def _late(self, key: int, value: Any, path: str, problems: list[str]) -> Any:
        convert = self.done.get(key)
        return value if convert is None else convert(value, path, problems)

    def _union(self, node: Union) -> Convert | None:
        nullable = any(branch.avro_name == "null" for branch in node.branches)
        converters = tuple(c for b in node.branches if (c := self.node(b)) is not None)
        if not converters:
            return None
        return _Union(node.branches, converters, nullable, node.label)


def _local(fmt: str | None, value: str) -> Any:
    moment = parse_timestamp(value, fmt, zone=None)
    if moment.utcoffset() is not None:
        raise Uncastable("has a UTC offset; a local timestamp has none")
    return moment


def _leaf(
    parse: Callable[[str], Any], label: str, value: Any, path: str, problems: list[str]
) -> Any:
    if not isinstance(value, str):
        return value
    if not value.strip():
        problems.append(f"{path or '/'}: empty, and the field ({label}) is not nullable")
        return value
    try:
        return parse(value)
    except (Uncastable, ValueError, ArithmeticError) as exc:
        why = f": {exc}" if str(exc) else ""
        problems.append(f"{path or '/'}: cannot be read as {label}{why}")
        return value


def _record(
    fields: tuple[tuple[str, Convert], ...], value: Any, path: str, problems: list[str]
) -> Any:
    if not isinstance(value, Mapping):
        return value
    out = dict(value)
    for name, convert in fields:
        if name in out:
            out[name] = convert(out[name], pointer(path, name), problems)
    return out


def _array(items: Convert, value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, list):
        return value
    return [items(item, f"{path}/{index}", problems) for index, item in enumerate(value)]


def _map(values: Convert, value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, Mapping):
        return value
    return {key: values(item, pointer(path, str(key)), problems) for key, item in value.items()}


@dataclass(frozen=True)
class _Union:
    branches: tuple[Node, ...]
    converters: tuple[Convert, ...]
    nullable: bool
    label: str

    def __call__(self, value: Any, path: str, problems: list[str]) -> Any:
        if not isinstance(value, str | Mapping | list):
            return value
        if isinstance(value, str):
            if _taken_as_is(self.branches, value):
                return value
            if self.nullable and not value.strip():
                return None
        if len(self.converters) == 1:
            return self.converters[0](value, path, problems)
        for convert in self.converters:  # the first branch, in the schema's order, that converts
            found: list[str] = []
            converted = convert(value, path, found)
            if not found:
                return converted
        problems.append(f"{path or '/'}: cannot be read as {self.label}")
        return value


def _taken_as_is(branches: tuple[Node, ...], value: str) -> bool:
    for branch in branches:
        if str in branch.kinds and not isinstance(branch, Record | Map):
            try:
                branch.convert(value)
            except Invalid:
                continue
            return True
    return False
