"""Avro names: full names, namespaces, and the named types a schema defines.

Pure helpers over schemas as ``json.loads`` returns them, shared by the codec, the projection and
the registry.
"""

from __future__ import annotations

from typing import Any, Final

PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
NAMED_KINDS: Final = frozenset({"record", "error", "enum", "fixed"})


def fullname(name: str, namespace: str | None) -> str:
    """``name`` qualified by ``namespace`` unless it is qualified already (contains a dot)."""
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def namespace_of(full: str) -> str:
    """The namespace part of a full name (``""`` for the null namespace)."""
    return full.rpartition(".")[0]


def short_name(full: str) -> str:
    return full.rpartition(".")[2]


def named_types(raw: Any, namespace: str | None = None) -> dict[str, Any]:
    """Every named type a schema defines, by full name."""
    found: dict[str, Any] = {}

    def walk(node: Any, ns: str | None) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, ns)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind in NAMED_KINDS and isinstance(node.get("name"), str):
            full = fullname(node["name"], node.get("namespace", ns))
            found[full] = node
            ns = namespace_of(full) or None
        if kind in ("record", "error"):
            for fld in node.get("fields") or []:
                if isinstance(fld, dict):
                    walk(fld.get("type"), ns)
        elif kind == "array":
            walk(node.get("items"), ns)
        elif kind == "map":
            walk(node.get("values"), ns)
        elif isinstance(kind, dict | list):
            walk(kind, ns)

    walk(raw, namespace)
    return found
