"""Avro schema compatibility, as Confluent Schema Registry decides it.

Pure logic over schemas as ``json.loads`` returns them. The rules are the schema-resolution rules of
the Avro 1.11 specification as Avro Java's ``SchemaCompatibility`` applies them (Confluent runs that
class), so a change Confluent accepts is accepted here and vice versa:

- primitives match themselves and the promotions int→long/float/double, long→float/double,
  float→double, string↔bytes;
- records, enums and fixed match when the reader's *unqualified* name equals the writer's, or a
  reader alias (resolved in the reader's namespace) equals the writer's full name;
- reader fields find their writer field by name, then by the reader field's aliases; a reader field
  with no writer field needs a ``default``; writer fields the reader lacks are skipped;
- every writer enum symbol must be a reader symbol, unless the reader enum has a ``default``;
- fixed sizes must be equal; arrays and maps compare items and values;
- a writer union is readable when each of its branches is; a non-union writer is readable by a
  reader union when any branch reads it fully (Avro Java's rule; the specification's "first
  matching branch" picks differently only when aliases make two branches match one writer name);
- recursion terminates: a (reader, writer) pair of named types already being compared counts as
  compatible, and a finished pair's answer is reused (at most ``MAX_REPORTED`` problems a pair).

Logical types are annotations and are ignored, as Avro Java ignores them: the underlying type
decides. So ``timestamp-millis`` ↔ ``timestamp-micros`` (both ``long``) and ``date`` → a long
timestamp (int→long) are compatible even though the values change meaning. The specification says
two ``decimal`` schemas match only with equal precision and scale; Avro Java never enforced it
(AVRO-2078) and Confluent accepts such changes, so ndxp does too unless ``strict_decimal=True``,
which reports a precision or scale change between two decimals as a ``TYPE_MISMATCH``.

Locations are Avro Java's JSON pointers (``/fields/2/type``): field positions are the reader's, a
union index is the writer's branch when the writer is a union, else the reader's branch tried. Where
Java only says a union lacks a branch although a branch of the same name or kind exists, the
problems inside that branch are reported instead (same verdict, a message one can act on).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from services.registry.errors import InvalidSchema, invalid_avro

__all__ = [
    "MAX_REPORTED",
    "CompatibilityLevel",
    "Incompatibility",
    "InvalidSchema",
    "SchemaWithReferences",
    "check_compatibility",
    "confluent_messages",
    "reader_writer_incompatibilities",
]


class CompatibilityLevel(StrEnum):
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"
    NONE = "NONE"


TYPE_MISMATCH = "TYPE_MISMATCH"
NAME_MISMATCH = "NAME_MISMATCH"
FIXED_SIZE_MISMATCH = "FIXED_SIZE_MISMATCH"
MISSING_ENUM_SYMBOLS = "MISSING_ENUM_SYMBOLS"
MISSING_UNION_BRANCH = "MISSING_UNION_BRANCH"
READER_FIELD_MISSING_DEFAULT_VALUE = "READER_FIELD_MISSING_DEFAULT_VALUE"

# A type reused along many paths (T0 has two T1 fields, T1 two T2 fields, ...) has exponentially
# many locations; the report stops here, the verdict does not change.
MAX_REPORTED = 100

# Confluent's ``errorType`` descriptions; {r} and {w} name the reader and the writer schema.
_CONFLUENT = {
    FIXED_SIZE_MISMATCH: "The size of FIXED type field at path '{p}' in the {r} schema "
    "does not match with the {w} schema",
    TYPE_MISMATCH: "The type (path '{p}') of a field in the {r} schema does not match with "
    "the {w} schema",
    NAME_MISMATCH: "The name of the schema has changed (path '{p}')",
    MISSING_ENUM_SYMBOLS: "The {r} schema is missing enum symbols '{i}' at path '{p}' in the "
    "{w} schema",
    MISSING_UNION_BRANCH: "The {r} schema is missing a type inside a union field at path '{p}' "
    "in the {w} schema",
    READER_FIELD_MISSING_DEFAULT_VALUE: "The field '{i}' at path '{p}' in the {r} schema has no "
    "default value and is missing in the {w} schema",
}


@dataclass(frozen=True)
class Incompatibility:
    """One reason why data written with one schema cannot be read with another.

    ``kind`` and ``additional_info`` are Avro Java's incompatibility type and message;
    ``location`` is its JSON pointer; ``field_path`` the dotted reader field path (``[]`` for array
    items, ``{}`` for map values). ``reader_role``/``writer_role`` are "reader"/"writer", or
    "new"/"old" from :func:`check_compatibility`, which also sets ``against``: the index in
    ``existing`` of the schema compared with.
    """

    kind: str
    location: str
    message: str
    additional_info: str
    field_path: str = ""
    reader_fragment: str = ""
    writer_fragment: str = ""
    reader_role: str = "reader"
    writer_role: str = "writer"
    against: int | None = None

    def confluent_message(self) -> str:
        """Render as one entry of Confluent's ``messages`` (``verbose=true``, 409 details)."""
        template = _CONFLUENT.get(self.kind)
        description = (
            template.format(
                p=self.location, i=self.additional_info, r=self.reader_role, w=self.writer_role
            )
            if template
            else self.message
        )
        return (
            f"{{errorType:'{self.kind}', description:'{description}', "
            f"additionalInfo:'{self.additional_info}'}}"
        )


@dataclass(frozen=True)
class SchemaWithReferences:
    """A schema and the named types its Confluent references define (full name → definition)."""

    schema: Any
    named: Mapping[str, Any] = field(default_factory=dict)


def reader_writer_incompatibilities(
    reader: Any,
    writer: Any,
    *,
    reader_named: Mapping[str, Any] = MappingProxyType({}),
    writer_named: Mapping[str, Any] = MappingProxyType({}),
    strict_decimal: bool = False,
) -> list[Incompatibility]:
    """Why data written with ``writer`` cannot be read with ``reader``; empty when it can.

    Names may refer to types defined anywhere in the same schema or in ``*_named``.
    Raises :class:`InvalidSchema` for a malformed schema or an unknown type name.
    """
    r, w = _Parser(reader_named).parse(reader), _Parser(writer_named).parse(writer)
    return [_finish(f, "reader", "writer", None) for f in _Checker(strict_decimal).check(r, w)]


def check_compatibility(
    new: Any,
    existing: Sequence[Any],
    level: CompatibilityLevel | str,
    *,
    strict_decimal: bool = False,
) -> list[Incompatibility]:
    """Why ``new`` may not follow ``existing`` (oldest → newest, deleted versions left out).

    Each schema is a JSON value or a :class:`SchemaWithReferences`. BACKWARD: new reads the latest;
    FORWARD: the latest reads new; FULL: both; ``*_TRANSITIVE``: against every existing version.
    Results run from the newest version back, forward problems before backward ones per version
    (Confluent's order), each with ``against`` set.
    """
    level = CompatibilityLevel(level)
    if level is CompatibilityLevel.NONE or not existing:
        return []
    backward = level.name.startswith(("BACKWARD", "FULL"))
    forward = level.name.startswith(("FORWARD", "FULL"))
    first = 0 if level.name.endswith("_TRANSITIVE") else len(existing) - 1
    new_node = _parse_any(new)
    found: list[Incompatibility] = []
    for index in range(len(existing) - 1, first - 1, -1):
        old_node = _parse_any(existing[index])
        if forward:
            forward_found = _Checker(strict_decimal).check(old_node, new_node)
            found += (_finish(f, "old", "new", index) for f in forward_found)
        if backward:
            backward_found = _Checker(strict_decimal).check(new_node, old_node)
            found += (_finish(f, "new", "old", index) for f in backward_found)
    return found


def confluent_messages(
    found: Sequence[Incompatibility],
    level: CompatibilityLevel | str,
    *,
    old: Sequence[tuple[int, str]],
) -> list[str]:
    """Confluent's verbose ``messages``: the problems with the newest incompatible version, then
    its trailers. ``old[i]`` is (version number, schema text) of ``existing[i]``."""
    target = max((f.against for f in found if f.against is not None), default=None)
    messages = [f.confluent_message() for f in found if f.against == target]
    if target is not None:
        version, text = old[target]
        messages += [
            f"{{oldSchemaVersion: {version}}}",
            f"{{oldSchema: '{text}'}}",
            f"{{compatibility: '{CompatibilityLevel(level)}'}}",
        ]
    return messages


# --- the parsed form: one object per named type, so recursion is by identity ---------------------

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED_TYPES = frozenset({"record", "error", "enum", "fixed"})
_PROMOTIONS = {
    "long": ("int",),
    "float": ("int", "long"),
    "double": ("int", "long", "float"),
    "bytes": ("string",),
    "string": ("bytes",),
}


@dataclass(eq=False, slots=True)
class _Primitive:
    type: str
    src: Any
    decimal: tuple[int, int] | None = None


@dataclass(eq=False, slots=True)
class _Field:
    name: str
    aliases: tuple[str, ...]
    type: _Node
    has_default: bool


@dataclass(eq=False, slots=True)
class _Named:
    type: str  # record, enum or fixed
    fullname: str
    aliases: frozenset[str]
    src: Any
    fields: list[_Field] = field(default_factory=list)
    by_name: dict[str, _Field] = field(default_factory=dict)
    symbols: tuple[str, ...] = ()
    enum_default: str | None = None
    size: int = 0
    decimal: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return self.fullname.rpartition(".")[2]


@dataclass(eq=False, slots=True)
class _Container:
    type: str  # array, map or union
    src: Any
    children: list[_Node]


_Node = _Primitive | _Named | _Container


def _fail(message: str) -> InvalidSchema:
    return invalid_avro(message)


def _qualify(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _strings(value: Any) -> list[str]:
    return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []


def _decimal(js: Mapping[str, Any]) -> tuple[int, int] | None:
    precision, scale = js.get("precision"), js.get("scale", 0)
    if js.get("logicalType") != "decimal" or type(precision) is not int or type(scale) is not int:
        return None
    return (precision, scale) if 0 <= scale <= precision else None


class _Parser:
    """Builds nodes from JSON; named types are found by full name, also in ``named``."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self._external = named
        self._external_walked = False
        self._defs: dict[str, tuple[Mapping[str, Any], str]] = {}
        self._built: dict[str, _Named] = {}

    def parse(self, schema: Any) -> _Node:
        self._collect(schema, "")
        return self._build(schema, "")

    def _collect(self, js: Any, ns: str) -> None:
        """Index every named definition (by full name, with its namespace) before building."""
        if isinstance(js, list):
            for branch in js:
                self._collect(branch, ns)
        elif isinstance(js, dict):
            kind = js.get("type")
            if kind in _NAMED_TYPES:
                fullname, ns = self._fullname(js, ns)
                self._defs.setdefault(fullname, (js, ns))
                fields = js.get("fields") if kind in ("record", "error") else None
                for f in fields if isinstance(fields, list) else ():
                    if isinstance(f, dict):
                        self._collect(f.get("type"), ns)
            elif kind in ("array", "map"):
                self._collect(js.get("items" if kind == "array" else "values"), ns)
            elif isinstance(kind, dict | list):
                self._collect(kind, ns)

    @staticmethod
    def _fullname(js: Mapping[str, Any], ns: str) -> tuple[str, str]:
        name = js.get("name")
        if not isinstance(name, str) or not name:
            raise _fail(f"a {js.get('type')} has no name")
        if "." in name:
            return name, name.rpartition(".")[0]
        space = js.get("namespace", ns) or ""
        return _qualify(name, space), space

    def _definition(self, fullname: str) -> tuple[Mapping[str, Any], str] | None:
        if fullname not in self._defs and fullname in self._external:
            definition = self._external[fullname]
            self._collect(definition, fullname.rpartition(".")[0])
            if isinstance(definition, dict):
                self._defs.setdefault(fullname, (definition, fullname.rpartition(".")[0]))
        if fullname not in self._defs and not self._external_walked:
            self._external_walked = True  # a type nested inside a referenced one
            for key, definition in self._external.items():
                self._collect(definition, key.rpartition(".")[0])
        return self._defs.get(fullname)

    def _reference(self, name: str, ns: str) -> _Named:
        for candidate in dict.fromkeys((_qualify(name, ns), name)):
            if self._definition(candidate) is not None:
                return self._named(candidate)
        raise _fail(f"unknown type {name!r}")

    def _build(self, js: Any, ns: str) -> _Node:
        if isinstance(js, list):
            return _Container("union", js, [self._build(b, ns) for b in js])
        if isinstance(js, dict):
            kind = js.get("type")
            if isinstance(kind, dict | list):
                return self._build(kind, ns)
            if kind in ("array", "map"):
                key = "items" if kind == "array" else "values"
                if key not in js:
                    raise _fail(f"an {kind} has no {key}")
                return _Container(kind, js, [self._build(js[key], ns)])
            if kind in _PRIMITIVES:
                return _Primitive(kind, js, _decimal(js))
            if kind in _NAMED_TYPES:
                return self._named(self._fullname(js, ns)[0])
            js = kind  # {"type": "com.example.Name"} refers to a named type
        if isinstance(js, str):
            return _Primitive(js, js) if js in _PRIMITIVES else self._reference(js, ns)
        raise _fail(f"{json.dumps(js)} is not a schema")

    def _named(self, fullname: str) -> _Named:
        if (node := self._built.get(fullname)) is not None:
            return node
        js, ns = self._defs[fullname]
        kind = "record" if js["type"] == "error" else str(js["type"])
        aliases = frozenset(_qualify(a, ns) for a in _strings(js.get("aliases")))
        node = self._built[fullname] = _Named(kind, fullname, aliases, js)
        if kind == "record":
            if not isinstance(js.get("fields"), list):
                raise _fail(f"record {fullname!r} has no fields")
            node.fields = [self._field(f, ns, fullname) for f in js["fields"]]
            node.by_name = {f.name: f for f in node.fields}
        elif kind == "enum":
            symbols = js.get("symbols")
            if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
                raise _fail(f"enum {fullname!r} has no symbols")
            default = js.get("default")
            node.symbols = tuple(symbols)
            node.enum_default = default if isinstance(default, str) else None
        else:
            if type(js.get("size")) is not int:
                raise _fail(f"fixed {fullname!r} has no size")
            node.size, node.decimal = js["size"], _decimal(js)
        return node

    def _field(self, js: Any, ns: str, record: str) -> _Field:
        if not isinstance(js, dict) or not isinstance(js.get("name"), str) or "type" not in js:
            raise _fail(f"record {record!r} has a field without a name or a type")
        aliases = tuple(_strings(js.get("aliases")))
        return _Field(js["name"], aliases, self._build(js["type"], ns), "default" in js)


def _parse_any(schema: Any) -> _Node:
    if isinstance(schema, SchemaWithReferences):
        return _Parser(schema.named).parse(schema.schema)
    return _Parser({}).parse(schema)


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """An incompatibility relative to the pair being compared; `text` holds {at} {r} {w}."""

    kind: str
    info: str
    text: str
    reader: _Node
    writer: _Node
    path: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def under(self, path: tuple[str, ...], segment: str | None = None) -> _Found:
        fields = self.fields if segment is None else (segment, *self.fields)
        return replace(self, path=path + self.path, fields=fields)


def _under(found: list[_Found], path: tuple[str, ...], segment: str | None = None) -> list[_Found]:
    return [f.under(path, segment) for f in found]


def _describe(node: _Node) -> str:
    return f"{node.type} '{node.fullname}'" if isinstance(node, _Named) else node.type


def _decimal_text(decimal: tuple[int, int]) -> str:
    return f"decimal({decimal[0]},{decimal[1]})"


class _Checker:
    def __init__(self, strict_decimal: bool) -> None:
        self._strict_decimal = strict_decimal
        # (reader, writer) named pairs: None while being compared, then the answer.
        self._memo: dict[tuple[int, int], list[_Found] | None] = {}

    def check(self, r: _Node, w: _Node) -> list[_Found]:
        if not (isinstance(r, _Named) and isinstance(w, _Named)):
            return self._compare(r, w)[:MAX_REPORTED]
        key = (id(r), id(w))
        if key in self._memo:
            return self._memo[key] or []
        self._memo[key] = None
        found = self._memo[key] = self._compare(r, w)[:MAX_REPORTED]
        return found

    def _compare(self, r: _Node, w: _Node) -> list[_Found]:
        if isinstance(w, _Container) and w.type == "union":
            return self._from_union(r, w)
        if isinstance(r, _Container) and r.type == "union":
            return self._into(r, w, None)
        if isinstance(r, _Container) or isinstance(w, _Container):
            if isinstance(r, _Container) and isinstance(w, _Container) and r.type == w.type:
                step, segment = ("items", "[]") if r.type == "array" else ("values", "{}")
                return _under(self.check(r.children[0], w.children[0]), (step,), segment)
            return [self._mismatch(r, w)]
        if r.type != w.type and w.type not in _PROMOTIONS.get(r.type, ()):
            return [self._mismatch(r, w)]
        found = self._decimals(r, w)
        if isinstance(r, _Named) and isinstance(w, _Named):
            found += self._names(r, w)
            if r.type == "record":
                found += self._fields(r, w)
            elif r.type == "enum":
                found += self._symbols(r, w)
            else:
                found += self._size(r, w)
        return found

    def _from_union(self, r: _Node, w: _Container) -> list[_Found]:
        """Every branch of writer union ``w`` must be readable; locations name its index."""
        if isinstance(r, _Container) and r.type == "union":
            return [f for i, b in enumerate(w.children) for f in self._into(r, b, str(i))]
        return [f for i, b in enumerate(w.children) for f in _under(self.check(r, b), (str(i),))]

    def _into(self, r: _Container, w: _Node, writer_index: str | None) -> list[_Found]:
        """Some branch of reader union ``r`` must read ``w``; else report the likeliest branch.

        Locations take the writer's branch index when the writer is a union, else the reader's.
        """
        likeliest: list[_Found] | None = None
        for i, branch in enumerate(r.children):
            found = self.check(branch, w)
            if not found:
                return []
            if likeliest is None and _same_kind(branch, w):
                likeliest = _under(found, (writer_index or str(i),))
        if likeliest is not None:
            return likeliest
        text = f"{{at}}: the union in the {{r}} schema has no branch that reads {_describe(w)}"
        text += " from the {w} schema"
        info = f"reader union lacking writer type: {w.type.upper()}"
        at = () if writer_index is None else (writer_index,)
        return [_Found(MISSING_UNION_BRANCH, info, text, r, w, at)]

    @staticmethod
    def _mismatch(r: _Node, w: _Node) -> _Found:
        text = f"{{at}} is {_describe(r)} in the {{r}} schema but {_describe(w)} in the {{w}} "
        text += f"schema, and Avro does not resolve {_describe(w)} to {_describe(r)}"
        info = f"reader type: {r.type.upper()} not compatible with writer type: {w.type.upper()}"
        return _Found(TYPE_MISMATCH, info, text, r, w)

    def _decimals(self, r: _Primitive | _Named, w: _Primitive | _Named) -> list[_Found]:
        if not self._strict_decimal or r.decimal is None or w.decimal is None:
            return []
        if r.decimal == w.decimal:
            return []
        rd, wd = _decimal_text(r.decimal), _decimal_text(w.decimal)
        text = f"{{at}} is {rd} in the {{r}} schema but {wd} in the {{w}} schema, and decimals "
        text += "resolve only with equal precision and scale"
        info = f"reader type: {rd} not compatible with writer type: {wd}"
        return [_Found(TYPE_MISMATCH, info, text, r, w)]

    @staticmethod
    def _names(r: _Named, w: _Named) -> list[_Found]:
        if r.name == w.name or w.fullname in r.aliases:
            return []
        text = f"{{at}} is {r.type} '{r.fullname}' in the {{r}} schema but '{w.fullname}' in the "
        text += f"{{w}} schema, and '{r.fullname}' has no alias '{w.fullname}'"
        return [_Found(NAME_MISMATCH, f"expected: {w.fullname}", text, r, w, ("name",))]

    def _fields(self, r: _Named, w: _Named) -> list[_Found]:
        found: list[_Found] = []
        for i, rf in enumerate(r.fields):
            wf = w.by_name.get(rf.name) or next(
                (w.by_name[a] for a in rf.aliases if a in w.by_name), None
            )
            if wf is not None:
                found += _under(self.check(rf.type, wf.type), ("fields", str(i), "type"), rf.name)
            elif not rf.has_default:
                text = "{at} in the {r} schema has no default value and is missing from the {w} "
                text += "schema"
                kind, at = READER_FIELD_MISSING_DEFAULT_VALUE, ("fields", str(i))
                found.append(_Found(kind, rf.name, text, r, w, at, (rf.name,)))
        return found

    @staticmethod
    def _symbols(r: _Named, w: _Named) -> list[_Found]:
        missing = sorted(set(w.symbols) - set(r.symbols))
        if not missing or (r.enum_default is not None and r.enum_default in r.symbols):
            return []
        text = f"{{at}}: enum '{r.fullname}' in the {{r}} schema lacks the {{w}} schema's symbols "
        text += f"{', '.join(missing)} and has no enum default"
        info = f"[{', '.join(missing)}]"  # Java's TreeSet.toString()
        return [_Found(MISSING_ENUM_SYMBOLS, info, text, r, w, ("symbols",))]

    @staticmethod
    def _size(r: _Named, w: _Named) -> list[_Found]:
        if r.size == w.size:
            return []
        text = f"{{at}} is fixed '{r.fullname}' of size {r.size} in the {{r}} schema but of size "
        text += f"{w.size} in the {{w}} schema"
        info = f"expected: {w.size}, found: {r.size}"
        return [_Found(FIXED_SIZE_MISMATCH, info, text, r, w, ("size",))]


def _same_kind(branch: _Node, w: _Node) -> bool:
    """The specification's shallow match: which union branch the reader would pick."""
    if isinstance(branch, _Named) and isinstance(w, _Named):
        return branch.type == w.type and (branch.name == w.name or w.fullname in branch.aliases)
    return branch.type == w.type or w.type in _PROMOTIONS.get(branch.type, ())


def _dotted(fields: tuple[str, ...]) -> str:
    return "".join(s if s in ("[]", "{}") or i == 0 else f".{s}" for i, s in enumerate(fields))


def _fragments(*nodes: _Node) -> Iterator[str]:
    for node in nodes:
        yield json.dumps(node.src, separators=(",", ":"), ensure_ascii=False)


def _finish(f: _Found, reader_role: str, writer_role: str, against: int | None) -> Incompatibility:
    field_path = _dotted(f.fields)
    at = f"Field '{field_path}'" if field_path else "The schema"
    message = f.text.replace("{at}", at).replace("{r}", reader_role).replace("{w}", writer_role)
    reader_fragment, writer_fragment = _fragments(f.reader, f.writer)
    return Incompatibility(
        kind=f.kind,
        location="/" + "/".join(s.replace("~", "~0").replace("/", "~1") for s in f.path),
        message=message,
        additional_info=f.info,
        field_path=field_path,
        reader_fragment=reader_fragment,
        writer_fragment=writer_fragment,
        reader_role=reader_role,
        writer_role=writer_role,
        against=against,
    )
