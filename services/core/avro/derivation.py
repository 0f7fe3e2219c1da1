"""The walk behind :mod:`services.core.avro.projection`: a grant as a spec per record level, the
derived reader schema, and the projectors of records. Pure functions of the writer's JSON."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from services.core.avro.names import (
    NAMED_KINDS,
    PRIMITIVES,
    fullname,
    named_types,
    namespace_of,
    short_name,
)
from services.core.avro.pii import pii_class

_RECORD_KINDS: Final = ("record", "error")

# A grant at one record level: (every non-personal field as a whole?, {field: deeper grant}).
Spec = tuple[bool, tuple[tuple[str, "Spec"], ...]]
WHOLE: Final[Spec] = (True, ())
Project = Callable[[Any], Any]


class UnknownPaths(Exception):
    """Grant paths that name no field; :mod:`services.core.avro.projection` reports them."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


# --- grants as specs ----------------------------------------------------------------------------


def spec_of(granted: Collection[str]) -> Spec:
    root = _Tree()
    for path in granted:
        node = root
        for part in path.split("."):
            node = node.children.setdefault(part, _Tree())
        node.whole = True
    return root.freeze()


class _Tree:
    def __init__(self) -> None:
        self.whole = False
        self.children: dict[str, _Tree] = {}

    def freeze(self) -> Spec:
        children = tuple((name, child.freeze()) for name, child in sorted(self.children.items()))
        return (self.whole, children)


def _merge(a: Spec | None, b: Spec | None) -> Spec:
    if a is None or b is None:
        merged = a or b
        assert merged is not None  # noqa: S101 - callers pass at least one
        return merged
    children = dict(a[1])
    for name, spec in b[1]:
        children[name] = _merge(children.get(name), spec)
    return (a[0] or b[0], tuple(sorted(children.items())))


def _included(record: Mapping[str, Any], spec: Spec) -> Iterator[tuple[Mapping[str, Any], Spec]]:
    """The fields of ``record`` a spec grants, each with the spec of what it holds."""
    whole, children = spec[0], dict(spec[1])
    for field in record["fields"]:
        base = WHOLE if whole and pii_class(field) is None else None
        child = children.get(field["name"])
        if base is not None or child is not None:
            yield field, _merge(base, child)


_Level = tuple[tuple[str, Spec], ...]


def _level(record: Mapping[str, Any], spec: Spec) -> _Level:
    """What a spec grants at one record: its fields, each with the spec of what it holds."""
    return tuple((field["name"], field_spec) for field, field_spec in _included(record, spec))


# --- the walk over the writer -------------------------------------------------------------------


class Deriver:
    def __init__(self, writer: Any, named: Mapping[str, Any]) -> None:
        self.writer = writer
        self.types: dict[str, Any] = {}
        for full, definition in named.items():
            self.types.update(named_types(definition, namespace_of(full) or None))
        self.types.update(named_types(writer))
        # Keyed by what is granted of the type, so two grants that mean the same share a name.
        self.emitted: dict[tuple[str, _Level | None], str] = {}
        self.projectors: dict[tuple[str, _Level], _RecordProjector] = {}

    def root(self) -> tuple[Mapping[str, Any], str]:
        records = self._records_in(self.writer, "")
        if len(records) != 1 or not isinstance(self.writer, Mapping):
            raise ValueError("the writer schema is not a record")
        return records[0]

    def check(self, granted: Collection[str] | None) -> Spec:
        if isinstance(granted, str):
            raise TypeError("granted is a collection of field paths, not one string")
        if granted is None:
            self.root()
            return WHOLE
        spec = spec_of(granted)
        unknown = self._unknown(self.writer, "", spec, "")
        if unknown:
            raise UnknownPaths(sorted(set(unknown)))
        return spec

    def _unknown(self, schema: Any, ns: str, spec: Spec, prefix: str) -> list[str]:
        if not spec[1]:
            return []
        records = self._records_in(schema, ns)
        found: list[str] = []
        for name, child in spec[1]:
            fields = [
                (f, rns) for record, rns in records for f in record["fields"] if f["name"] == name
            ]
            if not fields:
                found.append(prefix + name)
            for field, rns in fields:
                found += self._unknown(field["type"], rns, child, f"{prefix}{name}.")
        return found

    def _resolve(self, name: str, ns: str) -> tuple[str, Mapping[str, Any]]:
        for full in (fullname(name, ns), name):
            if full in self.types:
                return full, self.types[full]
        raise ValueError(f"unknown type {name!r} in the writer schema")

    def _definition(self, schema: Any, ns: str) -> tuple[str, Mapping[str, Any]] | None:
        """(full name, definition) when ``schema`` defines or names a named type."""
        if isinstance(schema, str):
            return None if schema in PRIMITIVES else self._resolve(schema, ns)
        if isinstance(schema, Mapping) and schema.get("type") in NAMED_KINDS:
            explicit = schema.get("namespace")
            return fullname(schema["name"], explicit if explicit is not None else ns), schema
        return None

    def _shape(self, schema: Any, ns: str) -> tuple[str, Any]:
        """What a value of ``schema`` is: ("named", (full name, definition)), ("union",
        branches), ("array", items), ("map", values) or ("leaf", None)."""
        while _is_wrapper(schema):
            schema = schema["type"]  # {"type": "vn.gov.x.Address"} and kin
        named = self._definition(schema, ns)
        if named is not None:
            return "named", named
        if isinstance(schema, list):
            return "union", schema
        kind = schema.get("type") if isinstance(schema, Mapping) else None
        if kind in ("array", "map"):
            return kind, schema.get("items" if kind == "array" else "values")
        return "leaf", None

    def _records_in(self, schema: Any, ns: str) -> list[tuple[Mapping[str, Any], str]]:
        """The record definitions a value of ``schema`` may be (through unions, arrays, maps)."""
        shape, inner = self._shape(schema, ns)
        if shape == "named":
            full, definition = inner
            is_record = definition.get("type") in _RECORD_KINDS
            return [(definition, namespace_of(full))] if is_record else []
        if shape == "union":
            return [found for branch in inner for found in self._records_in(branch, ns)]
        if shape in ("array", "map"):
            return self._records_in(inner, ns)
        return []

    # --- the derived schema ---------------------------------------------------------------------

    def schema(self, spec: Spec) -> Any:
        return self._type(self.writer, "", spec, "")

    def _type(self, schema: Any, ns: str, spec: Spec, out_ns: str) -> Any:
        named = self._definition(schema, ns)
        if named is not None:
            return self._named(*named, spec, out_ns)
        if isinstance(schema, list):
            return [self._type(branch, ns, spec, out_ns) for branch in schema]
        if not isinstance(schema, Mapping):
            return schema
        out = dict(schema)
        kind = schema.get("type")
        if kind in ("array", "map"):
            key = "items" if kind == "array" else "values"
            out[key] = self._type(schema.get(key), ns, spec, out_ns)
        elif _is_wrapper(schema):
            out["type"] = self._type(kind, ns, spec, out_ns)
        return out

    def _named(self, full: str, definition: Mapping[str, Any], spec: Spec, out_ns: str) -> Any:
        is_record = definition.get("type") in _RECORD_KINDS
        key = (full, _level(definition, spec) if is_record else None)
        if key in self.emitted:
            return self.emitted[key]  # defined already: a reference by full name
        name = full
        if any(emitted_full == full for emitted_full, _ in self.emitted):
            name = self._fresh_name(full)
        self.emitted[key] = name
        inner_ns = namespace_of(name)
        out: dict[str, Any] = {}
        for attribute, value in definition.items():
            if attribute == "name":
                out["name"] = short_name(name)
                if inner_ns != out_ns:
                    out["namespace"] = inner_ns
            elif attribute == "fields" and is_record:
                out["fields"] = self._fields(definition, namespace_of(full), spec, inner_ns)
            elif attribute != "namespace":
                out[attribute] = value
        if name != full:
            out["aliases"] = [*definition.get("aliases", []), full]
        return out

    def _fresh_name(self, full: str) -> str:
        taken = set(self.types) | set(self.emitted.values())
        number = 2
        while f"{full}_{number}" in taken:
            number += 1
        return f"{full}_{number}"

    def _fields(
        self, record: Mapping[str, Any], ns: str, spec: Spec, out_ns: str
    ) -> list[dict[str, Any]]:
        fields = []
        for field, field_spec in _included(record, spec):
            out = dict(field)
            out["type"] = self._type(field["type"], ns, field_spec, out_ns)
            if "default" in field:
                out["default"] = self._default(field["default"], field["type"], ns, field_spec)
            fields.append(out)
        return fields

    def _default(self, value: Any, schema: Any, ns: str, spec: Spec) -> Any:
        """A default value of ``schema`` with what ``spec`` does not grant removed."""
        shape, inner = self._shape(schema, ns)
        if shape == "named" and inner[1].get("type") in _RECORD_KINDS:
            full, definition = inner
            if isinstance(value, Mapping):
                return {
                    field["name"]: self._default(
                        value[field["name"]], field["type"], namespace_of(full), field_spec
                    )
                    for field, field_spec in _included(definition, spec)
                    if field["name"] in value
                }
        if shape == "union" and inner:
            return self._default(value, inner[0], ns, spec)  # a union's default is its first's
        if shape == "array" and isinstance(value, list):
            return [self._default(item, inner, ns, spec) for item in value]
        if shape == "map" and isinstance(value, Mapping):
            return {key: self._default(item, inner, ns, spec) for key, item in value.items()}
        return value

    # --- the projection of records --------------------------------------------------------------

    def projector(self, schema: Any, ns: str, spec: Spec) -> Project | None:
        """What turns a value of ``schema`` into its projection; ``None``: the value as it is."""
        shape, inner = self._shape(schema, ns)
        if shape == "named":
            full, definition = inner
            is_record = definition.get("type") in _RECORD_KINDS
            return self._record_projector(full, definition, spec) if is_record else None
        if shape == "union":
            return self._union_projector(inner, ns, spec)
        each = self.projector(inner, ns, spec) if shape in ("array", "map") else None
        if each is None:
            return None
        if shape == "array":
            return lambda value: [each(item) for item in value]
        return lambda value: {key: each(item) for key, item in value.items()}

    def _record_projector(
        self, full: str, definition: Mapping[str, Any], spec: Spec
    ) -> _RecordProjector:
        key = (full, _level(definition, spec))
        if key not in self.projectors:
            projector = self.projectors[key] = _RecordProjector(definition)
            projector.plan = tuple(
                (field["name"], self.projector(field["type"], namespace_of(full), field_spec))
                for field, field_spec in _included(definition, spec)
            )
        return self.projectors[key]

    def _union_projector(self, branches: list[Any], ns: str, spec: Spec) -> Project | None:
        records: list[_RecordProjector] = []
        containers: dict[str, Project] = {}
        for branch in branches:
            project = self.projector(branch, ns, spec)
            if isinstance(project, _RecordProjector):
                records.append(project)
            elif project is not None:
                containers[self._shape(branch, ns)[0]] = project
        if not records and not containers:
            return None
        return _UnionProjector(records, containers.get("array"), containers.get("map"))


def _is_wrapper(schema: Any) -> bool:
    """``{"type": <another type>}``: a type written as an object around another."""
    if not isinstance(schema, Mapping):
        return False
    kind = schema.get("type")
    if isinstance(kind, list | Mapping):
        return True
    return isinstance(kind, str) and kind not in PRIMITIVES and kind not in _CONSTRUCTED


_CONSTRUCTED: Final = frozenset({*NAMED_KINDS, "array", "map"})


class _RecordProjector:
    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.writer_names = frozenset(field["name"] for field in definition["fields"])
        self.plan: tuple[tuple[str, Project | None], ...] = ()

    def __call__(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for name, project in self.plan:
            if name in record:
                value = record[name]
                out[name] = value if project is None else project(value)
        return out


@dataclass(frozen=True)
class _UnionProjector:
    records: list[_RecordProjector]
    array: Project | None
    map: Project | None

    def __call__(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            if len(self.records) == 1 and self.map is None:
                return self.records[0](value)
            keys = value.keys()
            for record in self.records:
                if record.writer_names == keys:
                    return record(value)
            if self.map is not None:
                return self.map(value)
            return self.records[0](value) if self.records else value
        if isinstance(value, list) and self.array is not None:
            return self.array(value)
        return value
