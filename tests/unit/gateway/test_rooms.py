"""The gateway's house rules, read from its source: one place reads the request state, one place
defines dependency aliases, no alias twice or under a class's name, every room has its map."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import services
from services import gateway

SERVICES = Path(services.__file__).parent
GATEWAY = Path(gateway.__file__).parent
CORE = SERVICES / "core"


def _trees(root: Path) -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(root.rglob("*.py"))}


def _reads_request_state(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
        for node in ast.walk(tree)
    )


def _dependency_aliases(tree: ast.Module) -> list[str]:
    """Module-level ``Name = Annotated[..., Depends(...)]``."""
    names = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Subscript)):
            continue
        value = node.value
        if not (isinstance(value.value, ast.Name) and value.value.id == "Annotated"):
            continue
        calls = [n for n in ast.walk(value) if isinstance(n, ast.Call)]
        if any(isinstance(c.func, ast.Name) and c.func.id == "Depends" for c in calls):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def test_only_deps_reads_the_request_state() -> None:
    readers = [
        p.relative_to(GATEWAY) for p, t in _trees(GATEWAY).items() if _reads_request_state(t)
    ]
    assert readers == [Path("deps.py")]


def test_dependency_aliases_of_the_gateway_live_in_deps() -> None:
    defining = {
        p.relative_to(GATEWAY) for p, t in _trees(GATEWAY).items() if _dependency_aliases(t)
    }
    assert defining == {Path("deps.py")}


def test_no_dependency_alias_is_defined_twice_or_named_like_a_class() -> None:
    """Over the aliases a gateway route can take: the gateway's and core's."""
    trees = _trees(SERVICES)
    ours = {p: t for p, t in trees.items() if p.is_relative_to(GATEWAY) or p.is_relative_to(CORE)}
    aliases = Counter(name for tree in ours.values() for name in _dependency_aliases(tree))
    classes = {
        node.name
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    assert [name for name, n in aliases.items() if n > 1] == []
    assert sorted(set(aliases) & classes) == []


def test_every_room_of_the_gateway_has_a_map() -> None:
    rooms = sorted(p.parent for p in GATEWAY.glob("*/__init__.py"))
    assert {p.name for p in rooms} == {
        "agreements", "audit", "catalog", "identity", "oauth", "publish", "registry_proxy",
        "subscriptions",
    }  # fmt: skip
    for package in [GATEWAY, *rooms]:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc, f"{package.relative_to(SERVICES)}/__init__.py has no docstring"
