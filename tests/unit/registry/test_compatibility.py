"""Avro schema compatibility: the resolution rules, both directions, and the seven levels."""

from __future__ import annotations

import time
import timeit
from typing import Any

import pytest

from services.registry.compatibility import (
    MAX_REPORTED,
    CompatibilityLevel,
    Incompatibility,
    InvalidSchema,
    SchemaWithReferences,
    check_compatibility,
    confluent_messages,
    reader_writer_incompatibilities,
)

NS = "ndxp.test"
RFMDV = "READER_FIELD_MISSING_DEFAULT_VALUE"
TM = "TYPE_MISMATCH"
NM = "NAME_MISMATCH"
FSM = "FIXED_SIZE_MISMATCH"
MES = "MISSING_ENUM_SYMBOLS"
MUB = "MISSING_UNION_BRANCH"


def fld(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def rec(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": NS, "fields": list(fields), **extra}


def one(type_: Any, **extra: Any) -> dict[str, Any]:
    """A record R with the single field `v`."""
    return rec("R", fld("v", type_, **extra))


def enum(*symbols: str, name: str = "Colour", **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols), **extra}


def fixed(size: int, name: str = "Hash", **extra: Any) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": size, **extra}


def kinds(reader: Any, writer: Any, **kwargs: Any) -> list[str]:
    return [i.kind for i in reader_writer_incompatibilities(reader, writer, **kwargs)]


def only(reader: Any, writer: Any, **kwargs: Any) -> Incompatibility:
    found = reader_writer_incompatibilities(reader, writer, **kwargs)
    assert len(found) == 1, found
    return found[0]


ADDR = rec("Address", fld("street", "string"))
ADDR_ZIP = rec("Address", fld("street", "string"), fld("zip", "string"))
ADDR_ZIP_DEFAULT = rec("Address", fld("street", "string"), fld("zip", "string", default=""))
LINE = rec("Line", fld("sku", "string"), fld("qty", "int"))
LINE_QTY_STRING = rec("Line", fld("sku", "string"), fld("qty", "string"))

# (old, new, problems when new reads old (BACKWARD), problems when old reads new (FORWARD))
EVOLUTIONS: dict[str, tuple[Any, Any, list[str], list[str]]] = {
    "add field with default": (
        rec("R", fld("a", "int")),
        rec("R", fld("a", "int"), fld("b", "string", default="")),
        [],
        [],
    ),
    "add field with null default": (
        rec("R", fld("a", "int")),
        rec("R", fld("a", "int"), fld("b", ["null", "string"], default=None)),
        [],
        [],
    ),
    "add field without default": (
        rec("R", fld("a", "int")),
        rec("R", fld("a", "int"), fld("b", "string")),
        [RFMDV],
        [],
    ),
    "remove field without default": (
        rec("R", fld("a", "int"), fld("b", "string")),
        rec("R", fld("a", "int")),
        [],
        [RFMDV],
    ),
    "remove field with default": (
        rec("R", fld("a", "int"), fld("b", "string", default="x")),
        rec("R", fld("a", "int")),
        [],
        [],
    ),
    "reorder fields": (
        rec("R", fld("a", "int"), fld("b", "string")),
        rec("R", fld("b", "string"), fld("a", "int")),
        [],
        [],
    ),
    "int to long": (one("int"), one("long"), [], [TM]),
    "int to double": (one("int"), one("double"), [], [TM]),
    "long to float": (one("long"), one("float"), [], [TM]),
    "float to double": (one("float"), one("double"), [], [TM]),
    "long to int": (one("long"), one("int"), [TM], []),
    "string to bytes": (one("string"), one("bytes"), [], []),
    "bytes to string": (one("bytes"), one("string"), [], []),
    "int to string": (one("int"), one("string"), [TM], [TM]),
    "boolean to int": (one("boolean"), one("int"), [TM], [TM]),
    "enum add symbol": (one(enum("RED", "GREEN")), one(enum("RED", "GREEN", "BLUE")), [], [MES]),
    "enum add symbol, enum default": (
        one(enum("OTHER", "RED", default="OTHER")),
        one(enum("OTHER", "RED", "BLUE", default="OTHER")),
        [],
        [],
    ),
    "enum remove symbol": (one(enum("RED", "GREEN", "BLUE")), one(enum("RED", "GREEN")), [MES], []),
    "enum remove symbol, new has enum default": (
        one(enum("RED", "GREEN", "BLUE")),
        one(enum("RED", "GREEN", default="RED")),
        [],
        [],
    ),
    "enum remove symbol, only the writer has a default": (
        one(enum("RED", "GREEN", "BLUE", default="RED")),
        one(enum("RED", "GREEN")),
        [MES],
        [],
    ),
    "enum rename": (one(enum("A", name="Colour")), one(enum("A", name="Color")), [NM], [NM]),
    "enum rename with alias": (
        one(enum("A", name="Colour")),
        one(enum("A", name="Color", aliases=["Colour"])),
        [],
        [NM],
    ),
    "union widened": (one(["null", "string"]), one(["null", "string", "int"]), [], [MUB]),
    "union narrowed": (one(["null", "string", "int"]), one(["null", "string"]), [MUB], []),
    "union branch promoted": (one(["null", "int"]), one(["null", "long"]), [], [MUB]),
    "union reordered": (one(["null", "string"]), one(["string", "null"]), [], []),
    "plain to optional": (one("string"), one(["null", "string"]), [], [TM]),
    "optional to plain": (one(["null", "string"]), one("string"), [TM], []),
    "plain to union of promotions": (one("int"), one(["null", "long", "string"]), [], [TM] * 3),
    "plain to unrelated union": (one("int"), one(["null", "string"]), [MUB], [TM, TM]),
    "nested record adds required field": (
        one(ADDR),
        one(ADDR_ZIP),
        [RFMDV],
        [],
    ),
    "nested record adds field with default": (one(ADDR), one(ADDR_ZIP_DEFAULT), [], []),
    "optional nested record adds required field": (
        one(["null", ADDR], default=None),
        one(["null", ADDR_ZIP], default=None),
        [RFMDV],
        [],
    ),
    "array of records adds required field": (
        one({"type": "array", "items": ADDR}),
        one({"type": "array", "items": ADDR_ZIP}),
        [RFMDV],
        [],
    ),
    "map of records changes a field type": (
        one({"type": "map", "values": LINE}),
        one({"type": "map", "values": LINE_QTY_STRING}),
        [TM],
        [TM],
    ),
    "array items promoted": (
        one({"type": "array", "items": "int"}),
        one({"type": "array", "items": "long"}),
        [],
        [TM],
    ),
    "map values promoted": (
        one({"type": "map", "values": "float"}),
        one({"type": "map", "values": "double"}),
        [],
        [TM],
    ),
    "array to map": (
        one({"type": "array", "items": "int"}),
        one({"type": "map", "values": "int"}),
        [TM],
        [TM],
    ),
    "fixed size change": (one(fixed(16)), one(fixed(32)), [FSM], [FSM]),
    "fixed rename": (one(fixed(16, name="Hash")), one(fixed(16, name="Digest")), [NM], [NM]),
    "fixed to bytes": (one(fixed(16)), one("bytes"), [TM], [TM]),
    "record rename": (
        rec("Person", fld("a", "int")),
        rec("Citizen", fld("a", "int")),
        [NM],
        [NM],
    ),
    "record rename with alias": (
        rec("Person", fld("a", "int")),
        rec("Citizen", fld("a", "int"), aliases=["Person"]),
        [],
        [NM],
    ),
    "record rename with fully qualified alias": (
        rec("Person", fld("a", "int")),
        rec("Citizen", fld("a", "int"), aliases=[f"{NS}.Person"]),
        [],
        [NM],
    ),
    "record rename, alias in the wrong namespace": (
        rec("Person", fld("a", "int")),
        rec("Citizen", fld("a", "int"), aliases=["other.Person"]),
        [NM],
        [NM],
    ),
    "record namespace change (unqualified names match)": (
        rec("Person", fld("a", "int")),
        rec("Person", fld("a", "int"), namespace="ndxp.other"),
        [],
        [],
    ),
    "field rename without alias": (
        rec("R", fld("surname", "string")),
        rec("R", fld("family_name", "string")),
        [RFMDV],
        [RFMDV],
    ),
    "field rename with alias": (
        rec("R", fld("surname", "string")),
        rec("R", fld("family_name", "string", aliases=["surname"])),
        [],
        [RFMDV],
    ),
    "field rename with alias and type promotion": (
        rec("R", fld("count", "int")),
        rec("R", fld("total", "long", aliases=["count"])),
        [],
        [RFMDV],
    ),
    "timestamp-millis to timestamp-micros": (
        one({"type": "long", "logicalType": "timestamp-millis"}),
        one({"type": "long", "logicalType": "timestamp-micros"}),
        [],
        [],
    ),
    "date to timestamp-millis (int to long)": (
        one({"type": "int", "logicalType": "date"}),
        one({"type": "long", "logicalType": "timestamp-millis"}),
        [],
        [TM],
    ),
    "decimal precision and scale change": (
        one({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
        one({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 4}),
        [],
        [],
    ),
    "uuid annotation added": (
        one("string"),
        one({"type": "string", "logicalType": "uuid"}),
        [],
        [],
    ),
    "several problems at once": (
        rec("R", fld("a", "int"), fld("b", "string")),
        rec("R", fld("a", "string"), fld("c", "int")),
        [TM, RFMDV],
        [TM, RFMDV],
    ),
}


@pytest.mark.parametrize(("old", "new", "backward", "forward"), EVOLUTIONS.values(), ids=EVOLUTIONS)
def test_new_reading_old(old: Any, new: Any, backward: list[str], forward: list[str]) -> None:
    assert kinds(new, old) == backward


@pytest.mark.parametrize(("old", "new", "backward", "forward"), EVOLUTIONS.values(), ids=EVOLUTIONS)
def test_old_reading_new(old: Any, new: Any, backward: list[str], forward: list[str]) -> None:
    assert kinds(old, new) == forward


@pytest.mark.parametrize("schema", [old for old, _, _, _ in EVOLUTIONS.values()], ids=EVOLUTIONS)
def test_every_schema_reads_itself(schema: Any) -> None:
    assert kinds(schema, schema) == []


PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
# (writer, reader) pairs the specification resolves besides identity.
PROMOTIONS = {
    ("int", "long"),
    ("int", "float"),
    ("int", "double"),
    ("long", "float"),
    ("long", "double"),
    ("float", "double"),
    ("string", "bytes"),
    ("bytes", "string"),
}


@pytest.mark.parametrize("writer", PRIMITIVES)
@pytest.mark.parametrize("reader", PRIMITIVES)
def test_primitive_resolution_matrix(reader: str, writer: str) -> None:
    readable = reader == writer or (writer, reader) in PROMOTIONS
    found = reader_writer_incompatibilities(reader, writer)
    assert (found == []) is readable
    if not readable:
        assert [(i.kind, i.location) for i in found] == [(TM, "/")]
        assert found[0].additional_info == (
            f"reader type: {reader.upper()} not compatible with writer type: {writer.upper()}"
        )
    # The long form ({"type": "int"}) and a field inside a record behave the same.
    assert (kinds({"type": reader}, {"type": writer}) == []) is readable
    assert (kinds(one(reader), one(writer)) == []) is readable


# --- locations and messages ---------------------------------------------------------------------


def test_missing_default_names_the_field_and_renders_like_confluent() -> None:
    old = rec("R", fld("a", "int"))
    new = rec("R", fld("a", "int"), fld("channel", "string"))
    [found] = check_compatibility(new, [old], CompatibilityLevel.BACKWARD)
    assert (found.kind, found.location, found.field_path) == (RFMDV, "/fields/1", "channel")
    assert found.message == (
        "Field 'channel' in the new schema has no default value and is missing from the old schema"
    )
    assert found.confluent_message() == (
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'channel' at path "
        "'/fields/1' in the new schema has no default value and is missing in the old schema', "
        "additionalInfo:'channel'}"
    )


def test_type_mismatch_location_and_fragments() -> None:
    found = only(
        rec("R", fld("id", "string", default=""), fld("n", "string")), rec("R", fld("n", "int"))
    )
    assert (found.kind, found.location, found.field_path) == (TM, "/fields/1/type", "n")
    assert found.additional_info == "reader type: STRING not compatible with writer type: INT"
    assert (found.reader_fragment, found.writer_fragment) == ('"string"', '"int"')
    assert "Field 'n' is string in the reader schema but int in the writer schema" in found.message
    assert found.confluent_message() == (
        "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/1/type') of a field in "
        "the reader schema does not match with the writer schema', additionalInfo:'reader type: "
        "STRING not compatible with writer type: INT'}"
    )


def test_forward_problems_are_worded_old_reading_new() -> None:
    [found] = check_compatibility(one("long"), [one("int")], "FORWARD")
    assert (found.reader_role, found.writer_role, found.against) == ("old", "new", 0)
    assert "in the old schema does not match with the new schema" in found.confluent_message()


def test_writer_union_branch_is_located_by_its_index() -> None:
    found = only(one("string"), one(["null", "string"]))
    assert (found.location, found.additional_info) == (
        "/fields/0/type/0",
        "reader type: STRING not compatible with writer type: NULL",
    )


def test_union_narrowing_points_at_the_missing_writer_branch() -> None:
    found = only(one(["null", "string"]), one(["null", "string", "int"]))
    assert (found.kind, found.location) == (MUB, "/fields/0/type/2")
    assert found.additional_info == "reader union lacking writer type: INT"
    assert "has no branch that reads int" in found.message


def test_reader_union_without_a_matching_branch() -> None:
    found = only(["null", "string"], "int")
    assert (found.kind, found.location, found.field_path) == (MUB, "/", "")
    assert found.message.startswith("The schema: the union in the reader schema has no branch")


def test_problems_inside_the_matching_union_branch_are_reported() -> None:
    found = only(["null", ADDR_ZIP], ADDR)
    assert (found.kind, found.location, found.field_path) == (RFMDV, "/1/fields/1", "zip")


def test_union_to_union_locations_use_the_writer_branch_index() -> None:
    found = only(["null", ADDR_ZIP], [ADDR, "null"])
    assert (found.kind, found.location, found.field_path) == (RFMDV, "/0/fields/1", "zip")


def test_any_compatible_reader_branch_will_do_as_in_avro_java() -> None:
    writer = {**ADDR, "namespace": "a"}
    same_name_incompatible = {**ADDR_ZIP, "namespace": "b"}
    alias_compatible = {**ADDR, "name": "Home", "namespace": "c", "aliases": ["a.Address"]}
    assert kinds(["null", same_name_incompatible, alias_compatible], writer) == []
    found = only(["null", same_name_incompatible], writer)
    assert (found.kind, found.location) == (RFMDV, "/1/fields/1")


def test_enum_symbols_location_and_sorted_symbols() -> None:
    found = only(one(enum("A", "B")), one(enum("D", "A", "C", "B")))
    assert (found.kind, found.location) == (MES, "/fields/0/type/symbols")
    assert found.additional_info == "[C, D]"
    assert "lacks the writer schema's symbols C, D" in found.message


def test_fixed_size_and_name_locations() -> None:
    size = only(fixed(8), fixed(16))
    assert (size.location, size.additional_info) == ("/size", "expected: 16, found: 8")
    name = only(rec("Citizen", fld("a", "int")), rec("Person", fld("a", "int")))
    assert (name.kind, name.location, name.additional_info) == (
        NM,
        "/name",
        f"expected: {NS}.Person",
    )


def test_nested_array_field_path() -> None:
    old = rec("Order", fld("lines", {"type": "array", "items": LINE}))
    new = rec("Order", fld("lines", {"type": "array", "items": LINE_QTY_STRING}))
    found = only(new, old)
    assert found.location == "/fields/0/type/items/fields/1/type"
    assert found.field_path == "lines[].qty"
    assert found.message.startswith("Field 'lines[].qty' is string in the reader schema")
    in_map = only(
        one({"type": "map", "values": LINE_QTY_STRING}), one({"type": "map", "values": LINE})
    )
    assert (in_map.location, in_map.field_path) == (
        "/fields/0/type/values/fields/1/type",
        "v{}.qty",
    )


# --- recursion and named references ------------------------------------------------------------

NODE_V1 = rec("Node", fld("value", "int"), fld("next", ["null", "Node"], default=None))
NODE_V2 = rec("Node", fld("value", "long"), fld("next", ["null", "Node"], default=None))
NODE_V3 = rec(
    "Node", fld("value", "int"), fld("label", "string"), fld("next", ["null", "Node"], default=None)
)
TREE = rec("Tree", fld("children", {"type": "array", "items": "Tree"}), fld("leaf", "int"))
TREE_LONG = rec("Tree", fld("children", {"type": "array", "items": "Tree"}), fld("leaf", "long"))


@pytest.mark.parametrize(
    ("reader", "writer", "expected"),
    [
        (NODE_V1, NODE_V1, []),
        (NODE_V2, NODE_V1, []),
        (NODE_V1, NODE_V2, [(TM, "/fields/0/type")]),
        (NODE_V3, NODE_V1, [(RFMDV, "/fields/1")]),
        (NODE_V1, NODE_V3, []),
        (TREE_LONG, TREE, []),
        (TREE, TREE_LONG, [(TM, "/fields/1/type")]),
    ],
    ids=["self", "int->long", "long->int", "required added", "field dropped", "tree", "tree bad"],
)
def test_recursive_schemas_terminate(reader: Any, writer: Any, expected: list[Any]) -> None:
    found = reader_writer_incompatibilities(reader, writer)
    assert [(i.kind, i.location) for i in found] == expected


def test_mutually_recursive_types_terminate() -> None:
    def person(age: str) -> dict[str, Any]:
        dept = rec("Dept", fld("head", ["null", "Person"], default=None))
        return rec("Person", fld("age", age), fld("dept", ["null", dept], default=None))

    assert kinds(person("long"), person("int")) == []
    assert kinds(person("int"), person("long")) == [TM]


def test_a_shared_type_dag_is_checked_once_per_pair() -> None:
    """T0 has two fields of T1, T1 two of T2, ...: 2**30 paths, 31 pairs."""

    def dag(leaf: list[dict[str, Any]]) -> dict[str, Any]:
        schema: dict[str, Any] = rec("T30", *leaf)
        for depth in range(29, -1, -1):
            schema = rec(f"T{depth}", fld("left", schema), fld("right", f"T{depth + 1}"))
        return schema

    old = dag([fld("x", "int")])
    new = dag([fld("x", "long"), fld("y", "string", default="")])
    started = time.perf_counter()
    assert kinds(new, old) == []
    # 2**30 paths lead to the one long→int problem: the report is capped, the verdict is not.
    found = reader_writer_incompatibilities(old, new)
    assert 0 < len(found) <= MAX_REPORTED
    assert {i.kind for i in found} == {TM}
    assert found[0].location == "/fields/0/type" + "/fields/0/type" * 29 + "/fields/0/type"
    assert time.perf_counter() - started < 1


ADDRESS = {
    "type": "record",
    "name": "Address",
    "namespace": "ndxp.common",
    "fields": [
        fld("street", "string"),
        fld("kind", {"type": "enum", "name": "AddressKind", "symbols": ["HOME", "WORK"]}),
    ],
}
ADDRESS_ZIP = {**ADDRESS, "fields": [*ADDRESS["fields"], fld("zip", "string")]}
PERSON = rec("Person", fld("home", "ndxp.common.Address"))
NAMED = {"ndxp.common.Address": ADDRESS}


def test_named_references_resolve_through_the_named_mapping() -> None:
    assert kinds(PERSON, PERSON, reader_named=NAMED, writer_named=NAMED) == []
    found = only(
        PERSON,
        PERSON,
        reader_named={"ndxp.common.Address": ADDRESS_ZIP},
        writer_named=NAMED,
    )
    assert (found.kind, found.location, found.field_path) == (
        RFMDV,
        "/fields/0/type/fields/2",
        "home.zip",
    )


def test_a_type_nested_in_a_referenced_type_can_be_referenced() -> None:
    schema = rec("Visit", fld("kind", "ndxp.common.AddressKind"))
    assert kinds(schema, schema, reader_named=NAMED, writer_named=NAMED) == []
    narrowed = {
        "type": "enum",
        "name": "AddressKind",
        "namespace": "ndxp.common",
        "symbols": ["HOME"],
    }
    assert kinds(rec("Visit", fld("kind", narrowed)), schema, writer_named=NAMED) == [MES]


def test_short_name_resolves_in_the_enclosing_namespace() -> None:
    person = {**PERSON, "namespace": "ndxp.common", "fields": [fld("home", "Address")]}
    assert kinds(person, PERSON, reader_named=NAMED, writer_named=NAMED) == []


@pytest.mark.parametrize("reference", ["Address", f"{NS}.Address", {"type": "Address"}])
def test_names_defined_elsewhere_in_the_schema(reference: Any) -> None:
    defined_after = rec("Person", fld("work", ["null", reference], default=None), fld("home", ADDR))
    defined_before = rec(
        "Person", fld("home", ADDR), fld("work", ["null", reference], default=None)
    )
    assert kinds(defined_after, defined_before) == []
    grown = rec("Person", fld("home", ADDR_ZIP), fld("work", ["null", "Address"], default=None))
    # Both uses of Address report the new required field.
    assert [i.location for i in reader_writer_incompatibilities(grown, defined_before)] == [
        "/fields/0/type/fields/1",
        "/fields/1/type/1/fields/1",
    ]


@pytest.mark.parametrize(
    "schema",
    [
        "Nowhere",
        rec("R", fld("a", "Nowhere")),
        {"type": "record", "name": "R"},
        {"type": "enum", "name": "E"},
        {"type": "fixed", "name": "F"},
        {"type": "array"},
        {"type": "record", "fields": []},
        {"fields": []},
        42,
        rec("R", {"name": "a"}),
    ],
)
def test_invalid_schemas_are_refused(schema: Any) -> None:
    with pytest.raises(InvalidSchema) as raised:
        reader_writer_incompatibilities(schema, "int")
    assert raised.value.error_code == 42201
    with pytest.raises(InvalidSchema):
        check_compatibility(schema, ["int"], CompatibilityLevel.FULL)


# --- logical types ------------------------------------------------------------------------------


def decimal(precision: int, scale: int, base: Any = "bytes") -> dict[str, Any]:
    if base == "bytes":
        return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    return {**fixed(16), "logicalType": "decimal", "precision": precision, "scale": scale}


@pytest.mark.parametrize("base", ["bytes", "fixed"])
@pytest.mark.parametrize(
    ("reader", "writer", "strict_ok"),
    [((9, 2), (9, 2), True), ((9, 2), (12, 2), False), ((9, 2), (9, 4), False)],
)
def test_decimal_changes_follow_avro_java_unless_strict(
    base: str, reader: tuple[int, int], writer: tuple[int, int], strict_ok: bool
) -> None:
    r, w = one(decimal(*reader, base)), one(decimal(*writer, base))
    assert kinds(r, w) == []
    found = reader_writer_incompatibilities(r, w, strict_decimal=True)
    assert (found == []) is strict_ok
    if not strict_ok:
        assert [(i.kind, i.location) for i in found] == [(TM, "/fields/0/type")]
        assert found[0].additional_info == (
            f"reader type: decimal({reader[0]},{reader[1]}) not compatible with "
            f"writer type: decimal({writer[0]},{writer[1]})"
        )


def test_strict_decimal_ignores_pairs_that_are_not_both_decimals() -> None:
    assert kinds(one(decimal(9, 2)), one("bytes"), strict_decimal=True) == []
    assert kinds(one(decimal(9, 2)), one("string"), strict_decimal=True) == []
    assert kinds(one("bytes"), one(decimal(9, 2)), strict_decimal=True) == []
    strict = check_compatibility(
        one(decimal(9, 3)), [one(decimal(9, 2))], "BACKWARD", strict_decimal=True
    )
    assert [i.kind for i in strict] == [TM]


# --- levels over a history ----------------------------------------------------------------------

V1 = rec("R", fld("a", "int"))
V2 = rec("R", fld("a", "int"), fld("b", "string"))
V3 = rec("R", fld("a", "int"), fld("b", "string", default=""))
HISTORY = [V1, V2, V3]
NEW_OK = rec("R", fld("a", "int"), fld("b", "string", default=""), fld("c", "int", default=0))
NEW_B = rec("R", fld("a", "int"), fld("b", "string"))  # V1 data lacks b: only the latest has it
NEW_F = rec("R", fld("a", "int"))  # V2 readers need b: only the latest has a default
NEW_BAD = rec("R", fld("a", "string"), fld("b", "string", default=""))
CANDIDATES = {"ok": NEW_OK, "b": NEW_B, "f": NEW_F, "bad": NEW_BAD}

# level → the candidates it refuses
REFUSED = {
    CompatibilityLevel.NONE: set(),
    CompatibilityLevel.BACKWARD: {"bad"},
    CompatibilityLevel.BACKWARD_TRANSITIVE: {"b", "bad"},
    CompatibilityLevel.FORWARD: {"bad"},
    CompatibilityLevel.FORWARD_TRANSITIVE: {"f", "bad"},
    CompatibilityLevel.FULL: {"bad"},
    CompatibilityLevel.FULL_TRANSITIVE: {"b", "f", "bad"},
}


def test_the_seven_levels_are_confluents() -> None:
    assert [level.value for level in CompatibilityLevel] == [
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ]


@pytest.mark.parametrize("candidate", CANDIDATES)
@pytest.mark.parametrize("level", list(CompatibilityLevel))
def test_levels_over_a_three_version_history(level: CompatibilityLevel, candidate: str) -> None:
    found = check_compatibility(CANDIDATES[candidate], HISTORY, level)
    assert (found != []) is (candidate in REFUSED[level])
    assert (check_compatibility(CANDIDATES[candidate], HISTORY, level.value) != []) is (
        candidate in REFUSED[level]
    )


def test_transitive_problems_name_the_version_they_come_from() -> None:
    backward = check_compatibility(NEW_B, HISTORY, CompatibilityLevel.BACKWARD_TRANSITIVE)
    assert [(i.kind, i.against, i.location, i.reader_role) for i in backward] == [
        (RFMDV, 0, "/fields/1", "new")
    ]
    forward = check_compatibility(NEW_F, HISTORY, CompatibilityLevel.FORWARD_TRANSITIVE)
    assert [(i.kind, i.against, i.reader_role, i.writer_role) for i in forward] == [
        (RFMDV, 1, "old", "new")
    ]


def test_full_lists_newest_version_first_and_forward_before_backward() -> None:
    found = check_compatibility(NEW_BAD, HISTORY, CompatibilityLevel.FULL_TRANSITIVE)
    assert [(i.against, i.reader_role) for i in found] == [
        (2, "old"),
        (2, "new"),
        (1, "old"),
        (1, "new"),
        (0, "old"),
        (0, "new"),
    ]


def test_no_history_or_none_checks_nothing() -> None:
    assert check_compatibility(NEW_BAD, [], CompatibilityLevel.FULL_TRANSITIVE) == []
    assert check_compatibility(NEW_BAD, HISTORY, CompatibilityLevel.NONE) == []


def test_schemas_with_references_in_a_history() -> None:
    old = SchemaWithReferences(PERSON, NAMED)
    same = SchemaWithReferences(PERSON, {"ndxp.common.Address": ADDRESS})
    grown = SchemaWithReferences(PERSON, {"ndxp.common.Address": ADDRESS_ZIP})
    assert check_compatibility(same, [old], CompatibilityLevel.FULL) == []
    found = check_compatibility(grown, [old, old], CompatibilityLevel.FULL_TRANSITIVE)
    assert [(i.kind, i.against, i.reader_role) for i in found] == [
        (RFMDV, 1, "new"),
        (RFMDV, 0, "new"),
    ]


def test_confluent_verbose_messages_cover_the_newest_failing_version() -> None:
    found = check_compatibility(NEW_B, HISTORY, CompatibilityLevel.BACKWARD_TRANSITIVE)
    old = [(4, '{"v":1}'), (5, '{"v":2}'), (7, '{"v":3}')]
    messages = confluent_messages(found, CompatibilityLevel.BACKWARD_TRANSITIVE, old=old)
    assert messages == [
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at path "
        "'/fields/1' in the new schema has no default value and is missing in the old schema', "
        "additionalInfo:'b'}",
        "{oldSchemaVersion: 4}",
        """{oldSchema: '{"v":1}'}""",
        "{compatibility: 'BACKWARD_TRANSITIVE'}",
    ]
    bad = check_compatibility(NEW_BAD, HISTORY, CompatibilityLevel.FULL_TRANSITIVE)
    messages = confluent_messages(bad, "FULL_TRANSITIVE", old=old)
    assert [m.split(",")[0] for m in messages] == [
        "{errorType:'TYPE_MISMATCH'",
        "{errorType:'TYPE_MISMATCH'",
        "{oldSchemaVersion: 7}",
        """{oldSchema: '{"v":3}'}""",
        "{compatibility: 'FULL_TRANSITIVE'}",
    ]
    assert confluent_messages([], "BACKWARD", old=old) == []


# --- speed --------------------------------------------------------------------------------------


def test_a_fifty_field_record_checks_in_well_under_two_milliseconds() -> None:
    types = [
        "int",
        ["null", "string"],
        {"type": "array", "items": "long"},
        enum("A", "B"),
        "double",
    ]
    old = rec("Wide", *(fld(f"f{i}", types[i % 5]) for i in range(50)))
    new = rec("Wide", *(fld(f"f{i}", types[i % 5]) for i in range(50)), fld("x", "int", default=0))
    assert kinds(new, old) == []
    per_check = min(timeit.repeat(lambda: kinds(new, old), number=20, repeat=5)) / 20
    assert per_check < 0.002
