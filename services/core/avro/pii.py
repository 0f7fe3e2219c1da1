"""Personal-data tags on contract fields, and the field catalogue built from a contract.

A field of an ndxp contract that holds personal data carries the custom attribute
``"pii": "basic"`` or ``"pii": "sensitive"``: the two classes of Decree 13/2023/NĐ-CP (basic: name,
date of birth, address, phone, identity numbers, ...; sensitive: health, religion, political views,
biometrics, criminal records, financial data, location tracking, ...). ``"pii": null`` records a
review that found the field is *not* personal data (it silences the linter's ``pii-suspect``).

Fields are named by their dotted path from the top-level record (``new_address.street``). Arrays,
maps and unions are transparent: a record inside ``array<Record>`` or ``["null", Record]`` adds its
fields under the array or union field's own name. The same named type used by two fields appears
under both paths; a recursive type is expanded once per branch, never again inside itself.

**Confluent's spelling.** Contracts written with Confluent's data-contract tooling mark personal
data with the tag ``PII``: inline, as ``"confluent:tags": ["PII"]`` on the field, or in the
schema's ``metadata.tags`` (``{"vn.gov.mps.Citizen.full_name": ["PII"]}``; a path is a record's
full name and a field's name, with Confluent's wildcards ``*`` within a name, ``**`` across names,
``?`` one character; ndxp also matches it against the record's short name). :func:`pii_class`
reads both spellings: a field tagged ``PII`` (any case) is personal data, of the class its ``pii``
attribute gives, else ``"sensitive"`` (Confluent's tag has no class: fail closed).
:func:`with_metadata_tags` writes a schema's ``metadata.tags`` onto its fields as inline tags, so
everything downstream reads one spelling.

Both functions take the parsed JSON of a schema (or fastavro's ``parse_schema`` output) and, in
``named``, definitions of types the schema references but does not define (schema references),
keyed by full name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypedDict

PII_CLASSES: Final = ("basic", "sensitive")
CONFLUENT_TAGS: Final = "confluent:tags"  # a field's inline tags in Confluent's data contracts
PII_TAG: Final = "PII"

_NO_NAMED: Mapping[str, Any] = MappingProxyType({})
_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
_NAMED_KINDS: Final = frozenset({"record", "error", "enum", "fixed"})


class FieldInfo(TypedDict):
    """One row of :func:`field_catalogue`."""

    path: str
    type: str
    doc: str | None
    pii: str | None
    has_default: bool
    default: Any


def pii_class(field: Mapping[str, Any]) -> str | None:
    """The personal-data class of one field definition, or ``None`` if it is not personal data.

    Fails closed: a ``pii`` value that is present but not one of :data:`PII_CLASSES` (a typo, a
    ``true``) counts as ``"sensitive"``, so an unreviewed tag never lets data through. The linter
    reports such values as ``pii-class`` findings.
    """
    value = field.get("pii")
    if value is not None:
        return value if value in PII_CLASSES else "sensitive"
    tags = field.get(CONFLUENT_TAGS)
    if isinstance(tags, list) and any(isinstance(t, str) and t.upper() == PII_TAG for t in tags):
        return "sensitive"
    return None


def with_metadata_tags(
    schema: Any, named: Mapping[str, Any], metadata: Any
) -> tuple[Any, dict[str, Any]]:
    """``schema`` and ``named`` with the field tags of Confluent's ``metadata.tags`` added to
    each matching field's inline ``confluent:tags`` (copies; the arguments are not changed)."""
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    if not isinstance(tags, Mapping) or not tags:
        return schema, dict(named)
    patterns = [
        (_glob(path), [t for t in found if isinstance(t, str)])
        for path, found in tags.items()
        if isinstance(path, str) and isinstance(found, list)
    ]
    tagger = _Tagger(patterns)
    return (
        tagger.copy(schema, ""),
        {full: tagger.copy(d, _namespace_of(full)) for full, d in named.items()},
    )


_ANY, _ANY_IN_NAME, _ONE_IN_NAME = "**", "*", "?"


def _glob(path: str) -> tuple[str, ...]:
    """Confluent's wildcard path as tokens: ``**`` (anything), ``*`` (anything but a dot),
    ``?`` (one character but a dot), else one literal character each."""
    path = path.replace("**.*", _ANY)  # as Confluent's WildcardMatcher reads it
    tokens: list[str] = []
    i = 0
    while i < len(path):
        token = _ANY if path.startswith(_ANY, i) else path[i]
        tokens.append(token)
        i += len(token)
    return tuple(tokens)


def _matches(tokens: tuple[str, ...], name: str) -> bool:
    """Whether ``name`` matches the whole of ``tokens``: a set of positions walked through the
    name once, so a hostile pattern costs len(tokens) x len(name) steps, never backtracking."""

    def closure(positions: set[int]) -> set[int]:
        found, todo = set(positions), list(positions)
        while todo:  # a star may match nothing
            at = todo.pop()
            if at < len(tokens) and tokens[at] in (_ANY, _ANY_IN_NAME) and at + 1 not in found:
                found.add(at + 1)
                todo.append(at + 1)
        return found

    states = closure({0})
    for char in name:
        following: set[int] = set()
        for at in states:
            if at == len(tokens):
                continue
            token = tokens[at]
            if token == _ANY or (token == _ANY_IN_NAME and char != "."):
                following.add(at)  # a star goes on matching
            elif (token == _ONE_IN_NAME and char != ".") or token == char:
                following.add(at + 1)
        states = closure(following)
        if not states:
            return False
    return len(tokens) in states


@dataclass
class _Tagger:
    patterns: list[tuple[tuple[str, ...], list[str]]]

    def tags_of(self, record: str, field: str) -> set[str]:
        names = {f"{record}.{field}", f"{_short(record)}.{field}"}
        return {
            tag
            for pattern, tags in self.patterns
            if any(_matches(pattern, name) for name in names)
            for tag in tags
        }

    def copy(self, schema: Any, namespace: str) -> Any:
        if isinstance(schema, list):
            return [self.copy(branch, namespace) for branch in schema]
        if not isinstance(schema, Mapping):
            return schema
        node = dict(schema)
        kind = node.get("type")
        if kind in _NAMED_KINDS and (full := _definition_name(node, namespace)) is not None:
            namespace = _namespace_of(full)
            if kind in ("record", "error") and isinstance(node.get("fields"), list):
                node["fields"] = [self.field(f, full, namespace) for f in node["fields"]]
        for key in ("type", "items", "values"):
            if key in node and not (key == "type" and isinstance(node[key], str)):
                node[key] = self.copy(node[key], namespace)
        return node

    def field(self, field: Any, record: str, namespace: str) -> Any:
        if not isinstance(field, Mapping) or not isinstance(field.get("name"), str):
            return field
        copied = dict(field)
        copied["type"] = self.copy(field.get("type"), namespace)
        if found := self.tags_of(record, field["name"]):
            inline = field.get(CONFLUENT_TAGS)
            inline = [t for t in inline if isinstance(t, str)] if isinstance(inline, list) else []
            copied[CONFLUENT_TAGS] = sorted({*inline, *found})
        return copied


def pii_fields(schema: Any, named: Mapping[str, Any] = _NO_NAMED) -> dict[str, str]:
    """Dotted field path → pii class, for every field (at any depth) that carries ``pii``."""
    return {
        path: cls
        for path, field in _Walker(schema, named).fields()
        if (cls := pii_class(field)) is not None
    }


def field_catalogue(schema: Any, named: Mapping[str, Any] = _NO_NAMED) -> list[FieldInfo]:
    """Every field path (depth first, in declaration order) with its type, doc, pii class, default.

    ``type`` is a short string: a primitive or logical type name (``string``, ``date``,
    ``timestamp-millis``, ``decimal(18,0)``), a named type's short name (``Address``),
    ``array<T>``, ``map<T>``, or a union's members joined by ``|`` (``null|string``).
    """
    return [
        FieldInfo(
            path=path,
            type=type_label(field.get("type")),
            doc=doc if isinstance(doc := field.get("doc"), str) and doc else None,
            pii=pii_class(field),
            has_default="default" in field,
            default=field.get("default"),
        )
        for path, field in _Walker(schema, named).fields()
    ]


def type_label(schema: Any) -> str:
    """A short human label for a type (see :func:`field_catalogue`)."""
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else _short(schema)
    if isinstance(schema, list):
        return "|".join(type_label(branch) for branch in schema)
    if isinstance(schema, Mapping):
        return _complex_label(schema)
    return "?"


def _complex_label(schema: Mapping[str, Any]) -> str:
    kind, logical = schema.get("type"), schema.get("logicalType")
    if logical == "decimal":
        label = f"decimal({schema.get('precision')},{schema.get('scale', 0)})"
    elif isinstance(logical, str):
        label = logical
    elif kind in ("array", "map"):
        label = f"{kind}<{type_label(schema.get('items' if kind == 'array' else 'values'))}>"
    elif kind in _NAMED_KINDS and isinstance(schema.get("name"), str):
        label = _short(schema["name"])
    else:
        label = type_label(kind)
    return label


def _fullname(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _namespace_of(full: str) -> str:
    return full.rpartition(".")[0]


def _definition_name(schema: Mapping[str, Any], enclosing: str) -> str | None:
    name = schema.get("name")
    if not isinstance(name, str):
        return None
    explicit = schema.get("namespace")
    return _fullname(name, explicit if isinstance(explicit, str) else enclosing)


@dataclass
class _Walker:
    schema: Any
    named: Mapping[str, Any]

    def __post_init__(self) -> None:
        self.types: dict[str, Any] = {}
        for full, definition in self.named.items():
            self._collect(definition, _namespace_of(full))
            if isinstance(definition, Mapping):
                self.types.setdefault(full, definition)
        self._collect(self.schema, "")

    def _collect(self, schema: Any, namespace: str) -> None:
        """Register every named type defined in ``schema`` under its full name."""
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
            return
        if not isinstance(schema, Mapping):
            return
        kind = schema.get("type")
        if kind in _NAMED_KINDS and (full := _definition_name(schema, namespace)) is not None:
            self.types[full] = schema
            namespace = _namespace_of(full)
        if not isinstance(kind, str):
            self._collect(kind, namespace)  # {"type": {...}} wraps a type
        self._collect(schema.get("items"), namespace)
        self._collect(schema.get("values"), namespace)
        for field in _field_list(schema) if kind in ("record", "error") else ():
            self._collect(field.get("type"), namespace)

    def _resolve(self, name: str, namespace: str) -> tuple[str, Any] | None:
        for full in (_fullname(name, namespace), name):
            if full in self.types:
                return full, self.types[full]
        return None

    def fields(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """``(dotted path, field definition)`` of every field, depth first."""
        yield from self._type(self.schema, "", "", ())

    def _type(
        self, schema: Any, prefix: str, namespace: str, stack: tuple[str, ...]
    ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        if isinstance(schema, str):
            if schema not in _PRIMITIVES and (found := self._resolve(schema, namespace)):
                yield from self._type(found[1], prefix, _namespace_of(found[0]), stack)
            return
        if isinstance(schema, list):
            for branch in schema:
                yield from self._type(branch, prefix, namespace, stack)
            return
        if not isinstance(schema, Mapping):
            return
        kind = schema.get("type")
        if kind == "array":
            yield from self._type(schema.get("items"), prefix, namespace, stack)
        elif kind == "map":
            yield from self._type(schema.get("values"), prefix, namespace, stack)
        elif kind in ("record", "error"):
            full = _definition_name(schema, namespace) or ""
            if full in stack:
                return  # a recursive type: its fields are already listed above this point
            namespace = _namespace_of(full) if full else namespace
            for field in _field_list(schema):
                path = f"{prefix}{field['name']}"
                yield path, field
                yield from self._type(field.get("type"), f"{path}.", namespace, (*stack, full))
        elif isinstance(kind, (str, list, Mapping)) and kind not in _PRIMITIVES:
            yield from self._type(kind, prefix, namespace, stack)  # {"type": "Address"} and kin


def _field_list(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    fields = record.get("fields")
    if not isinstance(fields, list):
        return []
    return [f for f in fields if isinstance(f, Mapping) and isinstance(f.get("name"), str)]
