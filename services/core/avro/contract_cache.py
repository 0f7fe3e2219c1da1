"""Dataset contracts as the data paths need them (publish, delivery, connectors): compiled,
and asked for rarely.

A schema id never changes what it means, so a :class:`~services.core.avro.codec.Contract` is
compiled once per id and kept for the process's life (bounded, see ``MAX_CONTRACTS``). What does
change is which version is a subject's latest: that answer is kept ``LATEST_SECONDS`` (a replica
takes a new contract version into use within that time). A pinned version's id and the subjects
a schema id is registered under are kept ``PINNED_SECONDS`` (versions are deleted rarely).
Concurrent requests for one answer share one registry call (:class:`TTLCache`); failures are not
kept. Any valid principal may read contracts, so answers are shared by every caller; the caller's
own ``Authorization`` is what the registry sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from services.core.avro.codec import Contract, compile_contract
from services.core.avro.names import named_types
from services.core.avro.references import Reference, ReferenceProblem, resolve_references
from services.core.avro.registry_client import RegistryClient, RegistryNotFound
from services.core.errors import Conflict, NdxpError, NotFound
from services.core.ttlcache import TTLCache

LATEST_SECONDS: Final = 3.0
PINNED_SECONDS: Final = 300.0
MAX_CONTRACTS: Final = 4096
SUBJECT_NOT_FOUND: Final = 40401


class SchemaVersionNotFound(NotFound):
    code = "schema_version_not_found"
    title = "Schema version not found"


class NoContract(Conflict):
    """The dataset's subject has no live version: nothing can be validated against it."""

    code = "no_contract"
    title = "No contract"


class UnusableContract(NdxpError):
    """The registry holds a schema the codec cannot compile: an operator's problem (500)."""

    code = "unusable_contract"


class ContractCache:
    """Compiled contracts by schema id, a subject's latest and pinned versions, and where ids are
    registered; see the module docstring for how long each answer is kept."""

    def __init__(self, registry: RegistryClient) -> None:
        self.registry = registry
        self._compiled: TTLCache[Contract] = TTLCache(float("inf"), MAX_CONTRACTS)
        self._latest: TTLCache[Contract] = TTLCache(LATEST_SECONDS)
        self._pinned: TTLCache[Contract] = TTLCache(PINNED_SECONDS)
        self._subjects: TTLCache[frozenset[str]] = TTLCache(PINNED_SECONDS)

    async def version(self, subject: str, version: int | None, auth: str | None) -> Contract:
        """The contract of ``version`` of ``subject`` (None: the latest)."""
        if version is None:
            return await self._latest.get(
                subject, lambda: self._load_version(subject, "latest", auth)
            )
        return await self._pinned.get(
            (subject, version), lambda: self._load_version(subject, version, auth)
        )

    async def by_id(self, schema_id: int, auth: str | None) -> Contract:
        """The contract registered under ``schema_id``; ``NotFound`` for an unknown id."""

        async def load() -> Contract:
            found = await self.registry.schema_by_id(schema_id, auth)
            return await self._compile(schema_id, found, auth)

        return await self._compiled.get(schema_id, load)

    async def subjects_of(self, schema_id: int, auth: str | None) -> frozenset[str]:
        """The subjects ``schema_id`` is a live version of (empty for an unknown id)."""

        async def load() -> frozenset[str]:
            try:
                found = await self.registry.subject_versions_of(schema_id, auth)
            except RegistryNotFound:
                return frozenset()
            return frozenset(str(entry["subject"]) for entry in found)

        return await self._subjects.get(schema_id, load)

    async def _load_version(self, subject: str, version: int | str, auth: str | None) -> Contract:
        try:
            found = await self.registry.version(subject, version, auth)
        except RegistryNotFound as exc:
            if version == "latest" or exc.registry_code == SUBJECT_NOT_FOUND:
                raise NoContract(f"{subject} has no contract in the registry") from exc
            raise SchemaVersionNotFound(f"{subject} has no version {version}") from exc
        schema_id = int(found["id"])
        return await self._compiled.get(schema_id, lambda: self._compile(schema_id, found, auth))

    async def _compile(
        self, schema_id: int, found: Mapping[str, Any], auth: str | None
    ) -> Contract:
        if found.get("schemaType", "AVRO") != "AVRO":
            raise UnusableContract(f"schema {schema_id} is not Avro")
        try:
            referenced = await referenced_schemas(self.registry, found, auth)
        except ReferenceProblem as exc:
            raise UnusableContract(f"schema {schema_id}: {exc}") from exc
        named: dict[str, Any] = {}
        for raw in referenced:
            defined = named_types(raw)
            if defined:  # the first is the referenced schema's own name; the rest are inside it
                named.setdefault(next(iter(defined)), raw)
        try:
            return compile_contract(schema_id, json.loads(found["schema"]), named)
        except ValueError as exc:
            raise UnusableContract(f"schema {schema_id} cannot be compiled: {exc}") from exc


async def referenced_schemas(
    registry: RegistryClient, found: Mapping[str, Any], auth: str | None
) -> list[Any]:
    """The JSON of every schema the references of ``found`` (a registry answer with
    ``schema`` and ``references``) lead to, transitively, each once, dependencies first."""

    async def load(ref: Reference) -> tuple[Any, list[Reference]]:
        answer = await registry.version(ref.subject, ref.version, auth)
        nested = [Reference.from_json(r) for r in answer.get("references") or []]
        return json.loads(answer["schema"]), nested

    references = [Reference.from_json(r) for r in found.get("references") or []]
    return await resolve_references(references, load)
