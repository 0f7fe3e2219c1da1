"""The closure of schema references: order, each schema once, cycles and bounds refused."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from services.core.avro.references import Reference, ReferenceProblem, resolve_references


class Graph:
    """Subjects (version 1 each) and the references of each; counts what is loaded."""

    def __init__(self, edges: Mapping[str, Sequence[str]]) -> None:
        self.edges = edges
        self.loads: Counter[str] = Counter()

    async def load(self, ref: Reference) -> tuple[str, list[Reference]]:
        if ref.subject not in self.edges:
            raise LookupError(f"no {ref}")
        self.loads[ref.subject] += 1
        return ref.subject, [ref_to(s) for s in self.edges[ref.subject]]

    async def closure(self, *roots: str, **limits: int) -> list[str]:
        return await resolve_references([ref_to(r) for r in roots], self.load, **limits)


def ref_to(subject: str, name: str | None = None) -> Reference:
    return Reference(name or f"ns.{subject}", subject, 1)


async def test_dependencies_come_first() -> None:
    graph = Graph({"b": ["c"], "c": ["d"], "d": []})

    assert await graph.closure("b") == ["d", "c", "b"]


async def test_a_diamond_loads_the_shared_schema_once() -> None:
    graph = Graph({"b": ["d"], "c": ["d"], "d": []})

    assert await graph.closure("b", "c") == ["d", "b", "c"]
    assert graph.loads == {"b": 1, "c": 1, "d": 1}


async def test_a_chain_of_depth_four_resolves_whole() -> None:
    graph = Graph({"e1": ["e2"], "e2": ["e3"], "e3": ["e4"], "e4": []})

    assert await graph.closure("e1") == ["e4", "e3", "e2", "e1"]


async def test_a_name_is_bound_once_the_first_binding_wins() -> None:
    """Confluent's rule: a reference name seen already is skipped, whatever it points at."""
    graph = Graph({"b": [], "c": []})
    first, again = ref_to("b", name="ns.T"), ref_to("c", name="ns.T")

    assert await resolve_references([first, again], graph.load) == ["b"]
    assert graph.loads == {"b": 1}


async def test_a_cycle_is_refused_with_the_chain() -> None:
    graph = Graph({"a": ["b"], "b": ["c"], "c": ["a"]})

    with pytest.raises(ReferenceProblem) as caught:
        await graph.closure("a")

    assert str(caught.value) == (
        "schema references form a cycle: a version 1 -> b version 1 -> c version 1 -> a version 1"
    )


async def test_a_schema_referencing_itself_is_a_cycle() -> None:
    with pytest.raises(ReferenceProblem, match="cycle: a version 1 -> a version 1"):
        await Graph({"a": ["a"]}).closure("a")


async def test_a_missing_nested_reference_raises_the_loaders_error() -> None:
    graph = Graph({"b": ["c"], "c": ["gone"]})

    with pytest.raises(LookupError, match="no gone version 1"):
        await graph.closure("b")


async def test_a_chain_deeper_than_the_limit_is_refused() -> None:
    chain = {f"s{i}": [f"s{i + 1}"] for i in range(5)} | {"s5": []}

    assert len(await Graph(chain).closure("s0", max_depth=6)) == 6
    with pytest.raises(ReferenceProblem, match="nested more than 5 deep"):
        await Graph(chain).closure("s0", max_depth=5)


async def test_the_default_depth_limit_stops_a_long_chain_early() -> None:
    chain = {f"s{i}": [f"s{i + 1}"] for i in range(1000)}
    graph = Graph(chain)

    with pytest.raises(ReferenceProblem, match="nested more than 16 deep"):
        await graph.closure("s0")
    assert sum(graph.loads.values()) == 16


async def test_more_schemas_than_the_limit_are_refused() -> None:
    wide = {"root": [f"leaf{i}" for i in range(10)]} | {f"leaf{i}": [] for i in range(10)}

    assert len(await Graph(wide).closure("root", max_schemas=11)) == 11
    with pytest.raises(ReferenceProblem, match="more than 10 schemas"):
        await Graph(wide).closure("root", max_schemas=10)


async def test_a_wide_diamond_lattice_stays_linear() -> None:
    """Layers of 4 schemas, each referencing all of the next layer: 4^8 paths, 32 loads."""
    layers = [[f"l{depth}n{i}" for i in range(4)] for depth in range(8)]
    edges = {
        name: (layers[d + 1] if d + 1 < len(layers) else []) for d in range(8) for name in layers[d]
    }
    graph = Graph(edges)

    found = await graph.closure(*layers[0])

    assert sorted(found) == sorted(edges)
    assert set(graph.loads.values()) == {1}
    assert found.index("l7n0") < found.index("l0n0")


def test_references_read_from_the_registrys_json() -> None:
    ref = Reference.from_json({"name": "a.B", "subject": "s", "version": 3})

    assert ref == Reference("a.B", "s", 3)
    assert ref.as_json() == {"name": "a.B", "subject": "s", "version": 3}
