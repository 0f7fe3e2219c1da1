"""What a consumer may receive: the reader schema an agreement's grant derives, and the projection
of records to it. Pull, stream and webhook delivery all use this one module.

**Grants.** A grant is a collection of dotted field paths (``citizen_id``, ``new_address``,
``new_address.province_code``); arrays, maps and unions are transparent, as in
:mod:`services.core.avro.pii`. ``None`` grants every field that is not personal data.

- Naming a field grants it; naming a field whose type holds records grants their fields that are
  not personal data, at every depth, and no more.
- A field tagged ``"pii"`` (basic or sensitive) is granted only when it is named: naming its
  parent is not enough. ``new_address.street`` must be named for the street to be delivered.
- Naming a path inside a field grants that path only, also inside a field tagged ``pii`` (the
  path is named explicitly): ``new_address.province_code`` delivers a ``new_address`` holding
  just ``province_code``. :func:`pii_fields_in` lists such a tagged container all the same.
- A path that names no field is an error (:class:`UnknownFields`, a ``ValueError``), listing them.

**The derived reader schema** keeps the writer's records, names, namespaces, docs, ``pii`` tags,
defaults and field order, minus what is not granted, so Avro schema resolution against the writer
simply skips the removed fields (it is reader-compatible with the writer). It is self-contained
(referenced types are written inline) and deterministic: the same writer and grant give the same
JSON, so the registry gives it one id. When one named record is projected two ways (two fields of
type ``Address`` granted differently) the second gets a new name, ``Address_2``, with the original
full name as an alias, so it still resolves against the writer's ``Address``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.core.avro.derivation import Deriver, Project, Spec, UnknownPaths
from services.core.avro.pii import pii_class, pii_fields
from services.core.errors import Unprocessable

__all__ = [
    "Projection",
    "UnknownFields",
    "compile_projection",
    "derive_reader_schema",
    "granted_fields_default",
    "pii_fields_in",
]

_NO_NAMED: Mapping[str, Any] = MappingProxyType({})


class UnknownFields(Unprocessable, ValueError):
    """A grant names fields the contract does not have."""

    code = "unknown_fields"

    def __init__(self, paths: list[str]) -> None:
        super().__init__(
            f"the contract has no field {', '.join(paths)}",
            errors=[{"path": path, "reason": "unknown field"} for path in paths],
        )
        self.paths = tuple(paths)


@dataclass(frozen=True, eq=False)
class Projection:
    """A writer schema and a grant, compiled once: the derived reader schema and the projection
    of the writer's records (decoded, or in their JSON form) to it."""

    reader_schema: Any
    granted: tuple[str, ...] | None
    pii_fields: Mapping[str, str]  # the personal-data fields the grant delivers: path → class
    _project: Project

    def project(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """``record`` with only what the grant delivers; the same as reading its Avro encoding
        with :attr:`reader_schema`."""
        projected: dict[str, Any] = self._project(record)
        return projected


def compile_projection(
    writer: Any, granted: Collection[str] | None, *, named: Mapping[str, Any] = _NO_NAMED
) -> Projection:
    """Compile the projection of ``writer`` (a record schema's JSON) to ``granted``; ``named``
    holds the types the writer takes from its references, by full name."""
    deriver, spec = _checked(writer, granted, named)
    reader = deriver.schema(spec)
    return Projection(
        reader_schema=reader,
        granted=None if granted is None else tuple(sorted(set(granted))),
        pii_fields=MappingProxyType(pii_fields(reader)),
        _project=deriver.projector(writer, "", spec) or dict,
    )


def derive_reader_schema(
    writer: Any, granted: Collection[str] | None, *, named: Mapping[str, Any] = _NO_NAMED
) -> Any:
    """The reader schema that delivers exactly ``granted`` of ``writer`` (see the module doc)."""
    deriver, spec = _checked(writer, granted, named)
    return deriver.schema(spec)


def granted_fields_default(writer: Any, *, named: Mapping[str, Any] = _NO_NAMED) -> list[str]:
    """The top-level fields that are not personal data: what an agreement grants by default."""
    record, _ = Deriver(writer, named).root()
    return [field["name"] for field in record["fields"] if pii_class(field) is None]


def pii_fields_in(
    granted: Collection[str] | None, writer: Any, *, named: Mapping[str, Any] = _NO_NAMED
) -> dict[str, str]:
    """The personal-data fields ``granted`` delivers, wholly or in part: dotted path → class."""
    return pii_fields(derive_reader_schema(writer, granted, named=named))


def _checked(
    writer: Any, granted: Collection[str] | None, named: Mapping[str, Any]
) -> tuple[Deriver, Spec]:
    deriver = Deriver(writer, named)
    try:
        return deriver, deriver.check(granted)
    except UnknownPaths as exc:
        raise UnknownFields(exc.paths) from None
