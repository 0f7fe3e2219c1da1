"""The copy of a record's value that the transforms change, one step after another.

Transforms must not change the value the connector gave (a source may hold on to it, a retry may
transform it again), yet copying every record whole before each chain would copy mostly what no
step touches. So objects are copied on the way to a write, once each: the caller's value is never
changed and untouched parts are shared, not copied. Fields are addressed by paths, the names from
the root down (``("address", "street")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MISSING: Final = object()  # no such field, unlike a field that is null
Path = tuple[str, ...]


class WorkingCopy:
    """The value being transformed; :attr:`root` is the result once every step is done."""

    __slots__ = ("_own", "root")

    def __init__(self, value: Mapping[str, Any]) -> None:
        self.root: dict[str, Any] = dict(value)
        # Kept alive here, so an id in this table is never reused by another object meanwhile.
        self._own: dict[int, dict[str, Any]] = {id(self.root): self.root}

    def get(self, path: Path) -> Any:
        """The value at ``path``, or :data:`MISSING`."""
        node: Any = self.root
        for name in path:
            if not isinstance(node, Mapping) or name not in node:
                return MISSING
            node = node[name]
        return node

    def parent(self, path: Path) -> dict[str, Any] | None:
        """The object holding the path's last name, ours to change; None if there is none."""
        node = self.root
        for name in path[:-1]:
            child = node.get(name)
            if not isinstance(child, Mapping):
                return None
            owned = self._own.get(id(child))
            node = owned if owned is not None else self._copy(node, name, child)
        return node

    def _copy(self, parent: dict[str, Any], name: str, child: Mapping[str, Any]) -> dict[str, Any]:
        copied = parent[name] = dict(child)
        self._own[id(copied)] = copied
        return copied

    def set(self, path: Path, value: Any) -> None:
        """Set the field at ``path`` if its parent object exists."""
        parent = self.parent(path)
        if parent is not None:
            parent[path[-1]] = value
