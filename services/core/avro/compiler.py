"""Records, arrays, maps and unions, and the compiler that turns a parsed schema into nodes.

A record's ``convert`` returns the caller's own dict when every field is present and needs no
change (the common case for plain contracts): nothing is copied. A union value reaches fastavro in
its tuple notation ``(branch name, value)``, so fastavro writes the branch ndxp chose instead of
guessing again, except for ``null`` plus one simple type, where fastavro cannot guess wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from services.core.avro.names import short_name
from services.core.avro.nodes import (
    MISSING,
    PRIMITIVE_NODES,
    FieldError,
    Leaf,
    Node,
    enum_node,
    fixed_node,
    logical_node,
    pointer,
)
from services.core.avro.values import Invalid, describe, expected


class Record(Node):
    def __init__(self, full: str) -> None:
        self.label, self.avro_name = short_name(full), full
        self.kinds, self.decoded = (dict, Mapping), (dict,)
        self.convert, self.json = self._convert, self._to_json
        self.fields: tuple[tuple[str, Node, Any], ...] = ()
        self.names: frozenset[str] = frozenset()
        self._plan: tuple[tuple[str, Callable[[Any], Any], Any], ...] = ()
        self._checks: tuple[tuple[str, type | None, Callable[[Any], Any]], ...] = ()
        self._json_plan: tuple[tuple[str, Callable[[Any], Any]], ...] = ()

    def finish(self, fields: list[tuple[str, Node, Any]]) -> None:
        """Set the fields: (name, node, converted default or MISSING), in declaration order."""
        self.fields = tuple(fields)
        self.names = frozenset(name for name, _, _ in fields)
        self._plan = tuple((name, node.convert, default) for name, node, default in fields)
        self._checks = tuple((name, node.exact, node.convert) for name, node, _ in fields)
        self.identity = all(node.identity for _, node, _ in fields)
        self._json_plan = tuple(
            (name, node.json) for name, node, _ in fields if node.json is not None
        )
        if not self._json_plan:
            self.json = None

    def _convert(self, value: Any) -> Any:
        if type(value) is not dict:
            value = self._mapping(value)
        if not self.names.issuperset(value):
            raise Invalid("unknown field")
        if len(value) != len(self.names):
            return self._with_defaults(value)
        out = None  # copied on the first field that changes: a record that needs none is returned
        for name, exact, convert in self._checks:
            item = value[name]
            if type(item) is not exact:
                converted = convert(item)
                if converted is not item:
                    if out is None:
                        out = value.copy()
                    out[name] = converted
        return value if out is None else out

    def _with_defaults(self, value: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, convert, default in self._plan:
            item = value.get(name, MISSING)
            if item is not MISSING:
                out[name] = convert(item)
            elif default is not MISSING:
                out[name] = default
            else:
                raise Invalid("missing required field")
        return out

    def _mapping(self, value: Any) -> dict[Any, Any]:
        if isinstance(value, Mapping):
            return dict(value)
        raise expected(f"an object (record {self.label})", value)

    def collect(self, value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, Mapping):
            errors.append(
                FieldError(path, expected(f"an object (record {self.label})", value).reason)
            )
            return
        for name, node, default in self.fields:
            item = value.get(name, MISSING)
            if item is not MISSING:
                node.collect(item, f"{path}/{name}", errors)
            elif default is MISSING:
                errors.append(FieldError(f"{path}/{name}", "missing required field"))
        errors.extend(
            FieldError(pointer(path, str(key)), "unknown field")
            for key in value
            if key not in self.names
        )

    def from_default(self, default: Any) -> Any:
        if not isinstance(default, Mapping):
            raise expected(f"an object (record {self.label})", default)
        out = {}
        for name, node, field_default in self.fields:
            if name in default:
                out[name] = node.from_default(default[name])
            elif field_default is not MISSING:
                out[name] = field_default
            else:
                raise Invalid(f"the default lacks field {name}")
        return out

    def _to_json(self, value: Any) -> Any:
        out = dict(value)
        for name, to_json in self._json_plan:
            if name in out:
                out[name] = to_json(out[name])
        return out


class Array(Node):
    def __init__(self, items: Node) -> None:
        self.items, self.label, self.avro_name = items, f"array<{items.label}>", "array"
        self.kinds, self.decoded = (list, tuple), (list,)
        self.identity, self.convert = items.identity, self._convert
        item_json = items.json
        if item_json is not None:
            self.json = lambda value: [item_json(item) for item in value]

    def _convert(self, value: Any) -> Any:
        if type(value) is not list:
            if not isinstance(value, list | tuple):
                raise expected("an array", value)
            value = list(value)  # a tuple would read as fastavro's union notation
        convert = self.items.convert
        if self.identity:
            for item in value:
                if convert(item) is not item:
                    break
            else:
                return value
        return [convert(item) for item in value]

    def collect(self, value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, list | tuple):
            errors.append(FieldError(path, expected("an array", value).reason))
            return
        for index, item in enumerate(value):
            self.items.collect(item, f"{path}/{index}", errors)

    def from_default(self, default: Any) -> Any:
        if not isinstance(default, list):
            raise expected("an array", default)
        return [self.items.from_default(item) for item in default]


class Map(Node):
    def __init__(self, values: Node) -> None:
        self.values, self.label, self.avro_name = values, f"map<{values.label}>", "map"
        self.kinds, self.decoded = (dict, Mapping), (dict,)
        self.identity, self.convert = values.identity, self._convert
        value_json = values.json
        if value_json is not None:
            self.json = lambda value: {key: value_json(item) for key, item in value.items()}

    def _convert(self, value: Any) -> Any:
        if type(value) is not dict:
            if not isinstance(value, Mapping):
                raise expected("an object (map)", value)
            value = dict(value)
        convert = self.values.convert
        if self.identity:
            for key, item in value.items():
                if type(key) is not str or convert(item) is not item:
                    break
            else:
                return value
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Invalid("map keys must be strings")
            out[key] = convert(item)
        return out

    def collect(self, value: Any, path: str, errors: list[FieldError]) -> None:
        if not isinstance(value, Mapping):
            errors.append(FieldError(path, expected("an object (map)", value).reason))
            return
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(FieldError(pointer(path, str(key)), "map keys must be strings"))
            else:
                self.values.collect(item, pointer(path, key), errors)

    def from_default(self, default: Any) -> Any:
        if not isinstance(default, Mapping):
            raise expected("an object (map)", default)
        return {key: self.values.from_default(item) for key, item in default.items()}


class Union(Node):
    """A union. A value may be bare (the first branch, in declaration order, that accepts it) or
    wrapped as in Avro's JSON encoding, ``{"<branch name>": value}``, unless a branch is a map."""

    def __init__(self, branches: list[Node]) -> None:
        self.branches = tuple(branches)
        self.label = "one of " + ", ".join(branch.label for branch in branches)
        self.avro_name = "union"
        self.kinds = tuple({kind: None for b in branches for kind in b.kinds})
        self.decoded = tuple({kind: None for b in branches for kind in b.decoded})
        self._by_name = {branch.avro_name: branch for branch in branches}
        self._wrapped = not any(isinstance(branch, Map) for branch in branches)
        self._by_type = _by_type(branches, "kinds")
        self._decoded_by_type = _by_type(branches, "decoded")
        others = [branch for branch in branches if branch.avro_name != "null"]
        self._bare = len(branches) == 2 and len(others) == 1 and isinstance(others[0], Leaf)  # noqa: PLR2004
        self.identity = self._bare and others[0].identity
        self.convert = self._convert
        if any(branch.json is not None for branch in branches):
            self.json = self._to_json

    def _candidates(self, value: Any) -> tuple[Node, ...]:
        found = self._by_type.get(type(value))
        if found is None:  # a subclass, or a Mapping that is not a dict
            found = tuple(branch for branch in self.branches if isinstance(value, branch.kinds))
        return found

    def _unwrap(self, value: Any) -> tuple[str, Node, Any] | None:
        if self._wrapped and type(value) is dict and len(value) == 1:
            ((key, inner),) = value.items()
            branch = self._by_name.get(key)
            if branch is not None:
                return key, branch, inner
        return None

    def _convert(self, value: Any) -> Any:
        wrapped = self._unwrap(value)
        if wrapped is not None:
            _, branch, inner = wrapped
            return self._out(branch, branch.convert(inner))
        candidates = self._candidates(value)
        if len(candidates) == 1:
            branch = candidates[0]
            return self._out(branch, branch.convert(value))
        for branch in candidates:
            try:
                converted = branch.convert(value)
            except Invalid:
                continue
            return self._out(branch, converted)
        raise Invalid(self._mismatch(value))

    def _out(self, branch: Node, converted: Any) -> Any:
        return converted if self._bare else (branch.avro_name, converted)

    def _mismatch(self, value: Any) -> str:
        return f"expected {self.label}, got {describe(value)}"

    def collect(self, value: Any, path: str, errors: list[FieldError]) -> None:
        wrapped = self._unwrap(value)
        if wrapped is not None:
            key, branch, inner = wrapped
            branch.collect(inner, pointer(path, key), errors)
            return
        candidates = self._candidates(value)
        if len(candidates) == 1:
            candidates[0].collect(value, path, errors)  # the one branch it could be: say why not
            return
        for branch in candidates:
            try:
                branch.convert(value)
            except Invalid:
                continue
            return
        errors.append(FieldError(path, self._mismatch(value)))

    def from_default(self, default: Any) -> Any:
        for branch in self.branches:  # the first branch's, as the specification says; or any
            try:
                return self._out(branch, branch.from_default(default))
            except Invalid:
                continue
        raise Invalid(self._mismatch(default))

    def _to_json(self, value: Any) -> Any:
        candidates = self._decoded_by_type.get(type(value))
        if not candidates:
            return value
        branch = candidates[0]
        if len(candidates) > 1 and isinstance(value, dict):
            keys = value.keys()
            branch = next(
                (b for b in candidates if isinstance(b, Record) and b.names == keys),
                next((b for b in candidates if isinstance(b, Map)), branch),
            )
        return value if branch.json is None else branch.json(value)


def _by_type(branches: list[Node], attribute: str) -> dict[type, tuple[Node, ...]]:
    found: dict[type, list[Node]] = {}
    for branch in branches:
        for kind in getattr(branch, attribute):
            if kind is not Mapping:  # an abstract class: found by isinstance, not by type()
                found.setdefault(kind, []).append(branch)
    return {kind: tuple(nodes) for kind, nodes in found.items()}


class Compiler:
    """Compiles fastavro-parsed schemas; ``named`` is fastavro's named-schema table."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.nodes: dict[str, Node] = {}
        self._builders: dict[str, Callable[[Mapping[str, Any]], Node]] = {
            "record": self._record,
            "error": self._record,
            "enum": self._named,
            "fixed": self._named,
            "array": self._array,
            "map": self._map,
        }

    def node(self, schema: Any) -> Node:
        if isinstance(schema, str):
            return self._by_name(schema)
        if isinstance(schema, list):
            return Union([self.node(branch) for branch in schema])
        if not isinstance(schema, Mapping):
            raise TypeError(f"not an Avro type: {schema!r}")
        kind = schema.get("type")
        if isinstance(kind, str) and kind in self._builders:
            return self._builders[kind](schema)
        if isinstance(kind, str) and kind in PRIMITIVE_NODES:
            return logical_node(schema, kind) or PRIMITIVE_NODES[kind]
        return self.node(kind)  # {"type": "vn.gov.x.Address"}, {"type": [...]}

    def _array(self, schema: Mapping[str, Any]) -> Node:
        return Array(self.node(schema["items"]))

    def _map(self, schema: Mapping[str, Any]) -> Node:
        return Map(self.node(schema["values"]))

    def _by_name(self, name: str) -> Node:
        if name in PRIMITIVE_NODES:
            return PRIMITIVE_NODES[name]
        if name in self.nodes:
            return self.nodes[name]
        if name in self.named:
            return self.node(self.named[name])
        raise TypeError(f"unknown type {name!r}")

    def _named(self, schema: Mapping[str, Any]) -> Node:
        full = schema["name"]
        if full not in self.nodes:
            if schema["type"] == "enum":
                self.nodes[full] = enum_node(full, list(schema["symbols"]))
            else:
                self.nodes[full] = logical_node(schema, full) or fixed_node(full, schema["size"])
        return self.nodes[full]

    def _record(self, schema: Mapping[str, Any]) -> Node:
        full = schema["name"]
        if full in self.nodes:
            return self.nodes[full]
        record = Record(full)
        self.nodes[full] = record  # before the fields: a recursive type finds itself
        fields = []
        for field in schema["fields"]:
            node = self.node(field["type"])
            default = MISSING
            if "default" in field:
                try:
                    default = node.from_default(field["default"])
                except Invalid:
                    default = MISSING  # a default that cannot be written: the field is required
            fields.append((field["name"], node, default))
        record.finish(fields)
        return record
