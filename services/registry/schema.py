"""Parsing, validating and normalizing the schemas clients register.

A registered schema is kept as compact JSON with custom attributes such as ``pii`` as given;
neither whitespace nor key order makes two schemas different. ``normalize=true`` also stores keys
in canonical order, qualifies names and collapses ``{"type": "string"}`` to ``"string"``, so that
schemas that differ only in those ways get one id.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from services.core import bounded_json
from services.core.avro.names import named_types
from services.core.avro.references import Reference
from services.core.bounded_json import MAX_DEPTH_CAP
from services.core.subjects import InvalidSubject, check_subject
from services.registry.data_contract import canonical
from services.registry.errors import InvalidSchema, SchemaTooLarge, invalid_avro

SUPPORTED_TYPES = ("AVRO",)
JAVA_INT_MIN, JAVA_INT_MAX = -(2**31), 2**31 - 1
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Avro Parsing Canonical Form's key order; other attributes follow, sorted.
_KEY_ORDER = ("name", "type", "fields", "symbols", "items", "values", "size")


@dataclass(frozen=True)
class ParsedSchema:
    """A valid schema: its JSON value, its stored text, its references and their named types."""

    schema_type: str
    raw: Any
    text: str
    references: tuple[Reference, ...] = ()
    named: Mapping[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None  # canonical (services.registry.data_contract)
    rule_set: dict[str, Any] | None = None

    @functools.cached_property  # register and lookup compare it with every version's
    def fingerprint(self) -> str:
        return fingerprint(
            self.schema_type, self.raw, self.references, self.metadata, self.rule_set
        )


def fingerprint(
    schema_type: str,
    raw: Any,
    references: Sequence[Reference],
    metadata: dict[str, Any] | None = None,
    rule_set: dict[str, Any] | None = None,
) -> str:
    """What "the same schema" means: its type, its JSON with keys in one order, its references,
    and its metadata and ruleSet when it has any (as in Confluent's MD5 of a schema; a schema
    without them keeps the fingerprint it had before they were stored).

    Key order never tells two schemas apart: Confluent renders an Avro schema in Avro's own key
    order before it compares, and its Java clients look schemas up in that order, whatever order
    a schema was registered in. Migration 0008 rewrote the stored fingerprints this way.
    """
    refs = json.dumps([r.as_json() for r in references], sort_keys=True)
    payload = f"{schema_type}\n{canonical(raw)}\n{refs}"
    for name, part in (("metadata", metadata), ("ruleSet", rule_set)):
        if part is not None:
            payload += f"\n{name}:{canonical(part)}"
    return hashlib.sha256(payload.encode()).hexdigest()


def compact(raw: Any) -> str:
    return json.dumps(raw, separators=(",", ":"), ensure_ascii=False)


def is_java_int(value: Any) -> TypeGuard[int]:
    """Whether ``value`` is an integer Confluent's API takes (ids, versions: Java's int)."""
    return type(value) is int and JAVA_INT_MIN <= value <= JAVA_INT_MAX


def parse_references(value: Any) -> tuple[Reference, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSchema("references must be a list of {name, subject, version}")
    refs = []
    for item in value:
        if not isinstance(item, dict):
            raise InvalidSchema("each reference must be an object {name, subject, version}")
        name, subject, version = item.get("name"), item.get("subject"), item.get("version")
        if not isinstance(name, str) or not name or not isinstance(subject, str) or not subject:
            raise InvalidSchema(f"reference {item!r} needs a name and a subject")
        if not is_java_int(version):
            raise InvalidSchema(f"reference {item!r} needs an integer version (32 bits)")
        try:  # a reference names its subject as a path does: one spelling, one rule
            subject = check_subject(subject)
        except InvalidSubject as exc:
            raise InvalidSchema(f"reference {name!r}: {exc.message}") from exc
        refs.append(Reference(name, subject, version))
    if len({r.name for r in refs}) != len(refs):
        raise InvalidSchema("two references have the same name")
    return tuple(refs)


def parse_schema(
    text: str,
    *,
    schema_type: str = "AVRO",
    references: Sequence[Reference] = (),
    referenced: Sequence[Any] = (),
    normalize: bool = False,
    max_bytes: int | None = None,
    max_depth: int = MAX_DEPTH_CAP,
) -> ParsedSchema:
    """Validate ``text`` as an Avro schema whose references lead to ``referenced``: the JSON
    values of every schema in their closure, each after those it uses (``resolve_references``).

    Raises :class:`InvalidSchema` (42201) with a message naming the problem (a schema nested
    deeper than ``max_depth`` levels of JSON is refused before anything walks it), or
    :class:`SchemaTooLarge` (42209).
    """
    if schema_type not in SUPPORTED_TYPES:
        raise InvalidSchema(
            f"Invalid schema type {schema_type}: not supported, ndxp registers AVRO only"
        )
    if max_bytes is not None and len(text.encode()) > max_bytes:
        raise SchemaTooLarge(f"the schema is larger than the limit of {max_bytes} bytes")
    try:
        raw = bounded_json.loads(text, max_depth=max_depth, what="the schema")
    except bounded_json.InvalidJson as exc:
        raise invalid_avro(f"{exc.message}") from exc
    named: dict[str, Any] = {}
    for ref in referenced:
        named.update(named_types(ref))
    check_structure(raw, known=set(named))
    fastavro_named: dict[str, Any] = {}
    try:
        for ref in referenced:
            fastavro.parse_schema(ref, named_schemas=fastavro_named)
        fastavro.parse_schema(raw, named_schemas=fastavro_named)
    except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as exc:
        raise invalid_avro(f"{exc}") from exc
    if normalize:
        raw = normalized(raw)
    return ParsedSchema(schema_type, raw, compact(raw), tuple(references), named)


def _fullname(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def check_structure(raw: Any, known: set[str] | None = None) -> None:
    """What fastavro lets through but the Avro specification (and Avro Java) does not: bad names,
    duplicate fields or symbols, unions in unions, types used before they are defined."""
    _StructureCheck(set() if known is None else known).walk(raw, None, "")


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not all(_NAME.fullmatch(p) for p in name.split(".")):
        raise invalid_avro(f"{what} name {name!r} is not a valid Avro name")


@dataclass
class _StructureCheck:
    known: set[str]

    def walk(self, node: Any, ns: str | None, path: str) -> None:
        if isinstance(node, list):
            self.union(node, ns, path)
        elif isinstance(node, str):
            defined = node in self.known or _fullname(node, ns) in self.known
            if node not in PRIMITIVES and not defined:
                raise invalid_avro(f"unknown type {node!r} at {path or '/'}")
        elif isinstance(node, dict):
            self.complex(node, ns, path)
        else:
            raise invalid_avro(f"{node!r} at {path or '/'} is not a type")

    def union(self, branches: list[Any], ns: str | None, path: str) -> None:
        if not branches:
            raise invalid_avro(f"empty union at {path or '/'}")
        for i, branch in enumerate(branches):
            if isinstance(branch, list):
                raise invalid_avro(f"union inside a union at {path}/{i}")
            self.walk(branch, ns, f"{path}/{i}")

    def complex(self, node: dict[str, Any], ns: str | None, path: str) -> None:
        kind = node.get("type")
        if kind in NAMED_KINDS:
            _check_name(node.get("name"), str(kind))
            full = _fullname(node["name"], node.get("namespace", ns))
            self.known.add(full)
            ns = full.rpartition(".")[0] or None
        if kind in ("record", "error"):
            self.record(node, ns, path)
        elif kind == "enum":
            symbols = node.get("symbols")
            if not isinstance(symbols, list) or len(set(map(str, symbols))) != len(symbols):
                raise invalid_avro(f"enum at {path or '/'} needs unique symbols")
            for symbol in symbols:
                _check_name(symbol, "enum symbol")
        elif kind == "array":
            self.walk(node.get("items"), ns, f"{path}/items")
        elif kind == "map":
            self.walk(node.get("values"), ns, f"{path}/values")
        elif kind != "fixed":
            self.walk(kind, ns, f"{path}/type")

    def record(self, node: dict[str, Any], ns: str | None, path: str) -> None:
        fields = node.get("fields")
        if not isinstance(fields, list):
            raise invalid_avro(f"record at {path or '/'} has no fields list")
        names = set()
        for i, fld in enumerate(fields):
            if not isinstance(fld, dict) or "type" not in fld:
                raise invalid_avro(f"field {path}/fields/{i} has no type")
            _check_name(fld.get("name"), "field")
            if fld["name"] in names:
                raise invalid_avro(f"duplicate field {fld['name']!r}")
            names.add(fld["name"])
            self.walk(fld["type"], ns, f"{path}/fields/{i}/type")


def normalized(raw: Any, namespace: str | None = None) -> Any:
    """Canonical key order, full names, and primitives written as bare strings."""
    if isinstance(raw, list):
        return [normalized(branch, namespace) for branch in raw]
    if isinstance(raw, str):
        if raw in PRIMITIVES or "." in raw or not namespace:
            return raw
        return f"{namespace}.{raw}"
    if not isinstance(raw, dict):
        return raw
    node = dict(raw)
    kind = node.get("type")
    if set(node) == {"type"} and kind in PRIMITIVES:
        return kind
    if kind in NAMED_KINDS and isinstance(node.get("name"), str):
        full = _fullname(node["name"], node.pop("namespace", namespace))
        node["name"] = full
        namespace = full.rpartition(".")[0] or None
    if kind in ("record", "error"):
        node["fields"] = [
            _ordered({**f, "type": normalized(f.get("type"), namespace)}) for f in node["fields"]
        ]
    elif kind == "array":
        node["items"] = normalized(node.get("items"), namespace)
    elif kind == "map":
        node["values"] = normalized(node.get("values"), namespace)
    elif isinstance(kind, dict | list):
        node["type"] = normalized(kind, namespace)
    return _ordered(node)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    first = {key: node[key] for key in _KEY_ORDER if key in node}
    rest = {key: node[key] for key in sorted(node) if key not in first}
    return first | rest
