"""Schema references: the full set of schemas a schema takes named types from.

A reference names a version of another subject; that version may have references of its own.
:func:`resolve_references` walks them all as Confluent Schema Registry does: depth first, each
schema after the ones it depends on (the order a parser must read them in), a reference name
taken once (the first binding wins) and a ``(subject, version)`` loaded once, so a diamond
(A→B, A→C, B→D, C→D) loads D once. Unlike Confluent, which only stops a cycle by skipping names
it has seen, a cycle is refused, and so are a chain deeper than ``MAX_REFERENCE_DEPTH`` and more
than ``MAX_REFERENCED_SCHEMAS`` schemas in all: the work a schema can ask for is bounded.

The registry (parsing what it stores), and the data paths (compiling a contract, deriving a
reader schema) use this one walk, so what the registry accepts the data paths can use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

MAX_REFERENCE_DEPTH: Final = 16
MAX_REFERENCED_SCHEMAS: Final = 256

T = TypeVar("T")


@dataclass(frozen=True)
class Reference:
    """A named type a schema takes from version ``version`` of ``subject``."""

    name: str
    subject: str
    version: int

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Reference:
        """A reference as the registry's API shows one (trusted: the registry checked it)."""
        return cls(str(value.get("name", "")), str(value["subject"]), int(value["version"]))

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}

    def __str__(self) -> str:
        return f"{self.subject} version {self.version}"


class ReferenceProblem(ValueError):
    """The references of a schema form a cycle, nest too deeply or are too many."""


Load = Callable[[Reference], Awaitable[tuple[T, Sequence[Reference]]]]


async def resolve_references(
    references: Sequence[Reference],
    load: Load[T],
    *,
    max_depth: int = MAX_REFERENCE_DEPTH,
    max_schemas: int = MAX_REFERENCED_SCHEMAS,
) -> list[T]:
    """What ``load`` gives for every schema ``references`` lead to, dependencies first.

    ``load(ref)`` returns the referenced schema (in whatever form the caller wants) and that
    schema's own references; it raises the caller's error for a version that does not exist.
    Raises :class:`ReferenceProblem` for a cycle, a chain deeper than ``max_depth`` or more than
    ``max_schemas`` schemas.
    """
    resolved: list[T] = []
    names: set[str] = set()
    seen: set[tuple[str, int]] = set()
    path: list[Reference] = []

    async def visit(refs: Sequence[Reference]) -> None:
        for ref in refs:
            key = (ref.subject, ref.version)
            if any((p.subject, p.version) == key for p in path):
                chain = " -> ".join(str(p) for p in [*path, ref])
                raise ReferenceProblem(f"schema references form a cycle: {chain}")
            if ref.name in names or key in seen:
                continue
            if len(path) >= max_depth:
                raise ReferenceProblem(
                    f"schema references are nested more than {max_depth} deep (at {ref})"
                )
            if len(seen) >= max_schemas:
                raise ReferenceProblem(f"schema references lead to more than {max_schemas} schemas")
            names.add(ref.name)
            seen.add(key)
            value, nested = await load(ref)
            path.append(ref)
            await visit(nested)
            path.pop()
            resolved.append(value)

    await visit(references)
    return resolved
