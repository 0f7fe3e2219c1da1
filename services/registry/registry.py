"""The registry's operations, with Confluent Schema Registry's semantics.

Ids are global: the same schema (same text after parsing, same references) has one id in every
subject. Registering a schema a subject already has returns its id and adds no version. Deletion
is soft first, permanent second; a version another schema references cannot be deleted.
Schemas never change once stored, so look-ups by id are answered from memory after the first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.avro.references import Reference, ReferenceProblem, resolve_references
from services.core.config import RegistrySettings
from services.core.kafka.topics import InvalidName, parse_dataset_topic
from services.registry import store
from services.registry.compatibility import (
    CompatibilityLevel,
    SchemaWithReferences,
    check_compatibility,
    confluent_messages,
)
from services.registry.data_contract import check_metadata, check_rule_set, check_tag_matches
from services.registry.errors import (
    IncompatibleSchema,
    InvalidCompatibilityLevel,
    InvalidMode,
    InvalidSchema,
    OperationNotPermitted,
    ReferenceExists,
    SchemaNotFound,
    SubjectConfigNotFound,
    SubjectModeNotFound,
    SubjectNotFound,
    SubjectNotSoftDeleted,
    SubjectSoftDeleted,
    VersionNotFound,
    VersionNotSoftDeleted,
    VersionSoftDeleted,
    invalid_avro,
    invalid_version,
)
from services.registry.lint import Finding, LintLevel, expected_namespace, lint_contract
from services.registry.metrics import COMPATIBILITY_REFUSALS, REGISTRATIONS
from services.registry.schema import (
    ParsedSchema,
    is_java_int,
    parse_references,
    parse_schema,
)
from services.registry.store import GLOBAL, Store, StoredSchema, VersionRow

MODES = ("READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT")
MAX_VERSION = 2**31 - 1


def subject_namespace(subject: str) -> str | None:
    """The namespace a dataset subject's contract must use (``vn.gov.<agency>``); None for a
    subject that is not ``<dataset topic>-value`` (the topic naming rules are core's)."""
    topic, suffix, rest = subject.rpartition("-value")
    if not suffix or rest:
        return None
    try:
        agency, _dataset, _major = parse_dataset_topic(topic)
    except InvalidName:
        return None
    return expected_namespace(agency)


@dataclass(frozen=True)
class SchemaRequest:
    """What a client sends to register, look up or test a schema."""

    schema: str
    schema_type: str = "AVRO"
    references: tuple[Reference, ...] = ()
    id: int | None = None
    version: int | None = None
    metadata: dict[str, Any] | None = None  # Confluent's data contract parts, canonical
    rule_set: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, body: Any) -> SchemaRequest:
        if not isinstance(body, dict):
            raise InvalidSchema("the request body must be a JSON object")
        text = body.get("schema")
        if not isinstance(text, str) or not text.strip():
            raise InvalidSchema("Empty schema")
        schema_type = body.get("schemaType") or "AVRO"
        if not isinstance(schema_type, str):
            raise InvalidSchema("schemaType must be a string")
        schema_id, version = body.get("id"), body.get("version")
        for name, value in (("id", schema_id), ("version", version)):
            if value is not None and not is_java_int(value):
                raise InvalidSchema(f"{name} must be an integer (32 bits)")
        return cls(
            text,
            schema_type.upper(),
            parse_references(body.get("references")),
            schema_id,
            version,
            check_metadata(body.get("metadata")),
            check_rule_set(body.get("ruleSet")),
        )


@dataclass(frozen=True)
class Registered:
    id: int
    version: int
    warnings: list[Finding] = field(default_factory=list)
    added: bool = True  # False: the subject already had this schema


def parse_version(value: str) -> int | None:
    """``latest``/``-1`` → None (the newest), else a version in 1..2^31-1, else 42202."""
    if value in ("latest", "-1"):
        return None
    try:
        version = int(value)
    except ValueError:
        version = 0
    if not 1 <= version <= MAX_VERSION:
        raise invalid_version(value)
    return version


def schema_body(stored: StoredSchema, **extra: Any) -> dict[str, Any]:
    """A schema as Confluent's API shows it: type only when not AVRO, references when any."""
    body: dict[str, Any] = {**extra}
    if stored.schema_type != "AVRO":
        body["schemaType"] = stored.schema_type
    if stored.references:
        body["references"] = [r.as_json() for r in stored.references]
    if stored.metadata is not None:
        body["metadata"] = stored.metadata
    if stored.rule_set is not None:
        body["ruleSet"] = stored.rule_set
    body["schema"] = stored.text
    return body


class Registry:
    def __init__(self, store_: Store, settings: RegistrySettings) -> None:
        self.store = store_
        self.settings = settings
        self._schemas: dict[int, StoredSchema] = {}
        self._parsed: dict[int, ParsedSchema] = {}
        self._id_bodies: dict[int, bytes] = {}
        self._raws: dict[int, Any] = {}

    # --- schemas by id (immutable, cached) -----------------------------------------------

    async def schema(self, schema_id: int, session: AsyncSession | None = None) -> StoredSchema:
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        if session is None:
            found = await self.store.read(lambda s: store.schema(s, schema_id, in_use=True))
        else:
            found = await store.schema(session, schema_id, in_use=True)
        if found is None:
            raise SchemaNotFound(f"Schema {schema_id} not found")
        self._schemas[schema_id] = found
        return found

    async def schema_id_body(self, schema_id: int) -> bytes:
        """The JSON body of ``GET /schemas/ids/{id}``, encoded once per id (the hot path)."""
        body = self._id_bodies.get(schema_id)
        if body is None:
            body = json.dumps(schema_body(await self.schema(schema_id))).encode()
            self._id_bodies[schema_id] = body
        return body

    def cached_id_body(self, schema_id: int) -> bytes | None:
        return self._id_bodies.get(schema_id)

    def forget(self, schema_ids: Sequence[int]) -> None:
        for schema_id in schema_ids:
            self._schemas.pop(schema_id, None)
            self._parsed.pop(schema_id, None)
            self._id_bodies.pop(schema_id, None)
            self._raws.pop(schema_id, None)

    async def parsed(self, session: AsyncSession, schema_id: int) -> ParsedSchema:
        cached = self._parsed.get(schema_id)
        if cached is None:
            stored = await self.schema(schema_id, session)
            referenced = await self._referenced(session, stored.references, as_new=False)
            cached = parse_schema(
                stored.text,
                schema_type=stored.schema_type,
                references=stored.references,
                referenced=referenced,
            )
            self._parsed[schema_id] = cached
        return cached

    async def parsed_by_id(self, schema_id: int) -> ParsedSchema:
        return await self.store.read(lambda s: self.parsed(s, schema_id))

    async def _referenced(
        self, session: AsyncSession, references: Sequence[Reference], *, as_new: bool
    ) -> list[Any]:
        """The JSON of every schema ``references`` lead to, transitively, dependencies first.

        As Confluent's: a schema being registered (``as_new``) may use live versions only; one
        stored already may use soft-deleted ones too. A version missing anywhere in the closure,
        a cycle, or a closure too deep or too large is an invalid schema (42201)."""

        async def load(ref: Reference) -> tuple[Any, Sequence[Reference]]:
            rows = await store.versions(session, ref.subject)
            row = next((r for r in rows if r.version == ref.version), None)
            if row is None or (as_new and row.deleted):
                raise invalid_avro(
                    f'No schema reference found for subject "{ref.subject}" '
                    f"and version {ref.version} (reference {ref.name!r})"
                )
            stored = await self.schema(row.schema_id, session)
            return self._raw(stored), stored.references

        try:
            return await resolve_references(references, load)
        except ReferenceProblem as exc:
            raise invalid_avro(str(exc)) from exc

    def _raw(self, stored: StoredSchema) -> Any:
        """A stored schema's JSON value (its text is compact JSON the registry wrote)."""
        raw = self._raws.get(stored.id)
        if raw is None:
            raw = self._raws[stored.id] = json.loads(stored.text)
        return raw

    @staticmethod
    async def _pinned(session: AsyncSession, references: Sequence[Reference]) -> list[Reference]:
        """Confluent's ``"version": -1``: the referenced subject's latest version, by number."""
        pinned = []
        for ref in references:
            if ref.version == -1:
                live = [r for r in await store.versions(session, ref.subject) if not r.deleted]
                if live:
                    ref = Reference(ref.name, ref.subject, live[-1].version)  # noqa: PLW2901
            pinned.append(ref)
        return pinned

    async def _parse(
        self, session: AsyncSession, request: SchemaRequest, *, normalize: bool, as_new: bool
    ) -> ParsedSchema:
        references = await self._pinned(session, request.references)
        parsed = parse_schema(
            request.schema,
            schema_type=request.schema_type,
            references=references,
            referenced=await self._referenced(session, references, as_new=as_new),
            normalize=normalize,
            max_bytes=self.settings.max_schema_bytes,
            max_depth=self.settings.max_json_depth,
        )
        return replace(parsed, metadata=request.metadata, rule_set=request.rule_set)

    async def _inherited(
        self, session: AsyncSession, parsed: ParsedSchema, live: Sequence[VersionRow]
    ) -> ParsedSchema:
        """``parsed`` with the metadata and ruleSet it lacks taken from the subject's latest
        version, as Confluent does on registration (and on a second look-up attempt)."""
        if not live or (parsed.metadata is not None and parsed.rule_set is not None):
            return parsed
        latest = await self.schema(live[-1].schema_id, session)
        return replace(
            parsed,
            metadata=latest.metadata if parsed.metadata is None else parsed.metadata,
            rule_set=latest.rule_set if parsed.rule_set is None else parsed.rule_set,
        )

    # --- registering and looking up ---------------------------------------------------------

    async def register(
        self, subject: str, request: SchemaRequest, *, normalize: bool = False
    ) -> Registered:
        async def op(session: AsyncSession) -> Registered:
            mode = await self._effective_mode(session, subject)
            if mode.startswith("READONLY"):
                raise OperationNotPermitted(f"Subject {subject} is in read-only mode")
            importing = mode == "IMPORT"
            if not importing and request.id is not None:
                raise OperationNotPermitted(
                    "a schema id can be given only in IMPORT mode; set the mode to IMPORT first"
                )
            parsed = await self._parse(session, request, normalize=normalize, as_new=True)
            rows = await store.versions(session, subject)
            live = [r for r in rows if not r.deleted]
            if not importing:
                parsed = await self._inherited(session, parsed, live)
            for row in reversed(live):
                if (await self.schema(row.schema_id, session)).fingerprint == parsed.fingerprint:
                    return Registered(row.schema_id, row.version, added=False)
            check_tag_matches(parsed.metadata, parsed.raw, parsed.named)
            if not importing:
                await self._check(session, subject, parsed, live)
            warnings = await self._lint(session, subject, parsed)
            schema_id = await self._schema_id(session, parsed, request.id if importing else None)
            version = self._next_version(rows, request.version if importing else None)
            await store.insert_version(session, subject, version, schema_id)
            return Registered(schema_id, version, warnings)

        registered = await self.store.write(op)
        REGISTRATIONS.labels("registered" if registered.added else "existing").inc()
        return registered

    async def _schema_id(
        self, session: AsyncSession, parsed: ParsedSchema, wanted: int | None
    ) -> int:
        existing = await store.schema_by_fingerprint(session, parsed.fingerprint)
        if existing is not None:
            if wanted is not None and wanted != existing.id:
                raise OperationNotPermitted(
                    f"this schema is already registered with id {existing.id}, not {wanted}"
                )
            return existing.id
        if wanted is not None and await store.schema(session, wanted) is not None:
            raise OperationNotPermitted(f"id {wanted} is already used by another schema")
        return await store.insert_schema(session, parsed, wanted)

    @staticmethod
    def _next_version(rows: Sequence[VersionRow], wanted: int | None) -> int:
        if wanted is None:
            return max((r.version for r in rows), default=0) + 1
        if not 1 <= wanted <= MAX_VERSION:
            raise invalid_version(str(wanted))
        if any(r.version == wanted for r in rows):
            raise OperationNotPermitted(f"version {wanted} already exists in this subject")
        return wanted

    async def _check(
        self, session: AsyncSession, subject: str, new: ParsedSchema, live: Sequence[VersionRow]
    ) -> None:
        level = CompatibilityLevel(await self._effective_compatibility(session, subject))
        if not live or level == CompatibilityLevel.NONE:
            return
        against = live if level.value.endswith("TRANSITIVE") else live[-1:]
        messages = await self._incompatibilities(session, new, against, level)
        if messages:
            COMPATIBILITY_REFUSALS.labels(level.value).inc()
            raise IncompatibleSchema(
                f"Schema being registered is incompatible with an earlier schema for subject "
                f'"{subject}", details: [{", ".join(messages)}]'
            )

    async def _incompatibilities(
        self,
        session: AsyncSession,
        new: ParsedSchema,
        against: Sequence[VersionRow],
        level: CompatibilityLevel,
    ) -> list[str]:
        """Confluent's messages about why ``new`` may not follow ``against``; empty if it may."""
        existing = [await self.parsed(session, r.schema_id) for r in against]
        problems = check_compatibility(
            SchemaWithReferences(new.raw, new.named),
            [SchemaWithReferences(p.raw, p.named) for p in existing],
            level,
        )
        old = [(r.version, p.text) for r, p in zip(against, existing, strict=True)]
        return confluent_messages(problems, level, old=old) if problems else []

    async def _lint(
        self, session: AsyncSession, subject: str, parsed: ParsedSchema
    ) -> list[Finding]:
        level = LintLevel(await self._effective_lint(session, subject))
        if level == LintLevel.OFF:
            return []
        namespace = subject_namespace(subject)
        findings = lint_contract(parsed.raw, namespace=namespace, named=parsed.named)
        if findings and level == LintLevel.ENFORCE:
            raise InvalidSchema(
                f"Invalid schema: the contract has {len(findings)} lint finding(s): "
                + "; ".join(str(f) for f in findings),
                errors=[asdict(f) for f in findings],
            )
        return findings

    async def lookup(
        self, subject: str, request: SchemaRequest, *, normalize: bool, deleted: bool
    ) -> dict[str, Any]:
        async def op(session: AsyncSession) -> dict[str, Any]:
            rows = await store.versions(session, subject)
            if not rows or (not deleted and all(r.deleted for r in rows)):
                raise SubjectNotFound(f"Subject '{subject}' not found.")
            parsed = await self._parse(session, request, normalize=normalize, as_new=False)
            visible = [r for r in rows if deleted or not r.deleted]
            found = await self._find(session, parsed, visible)
            if found is None:  # Confluent's second attempt: metadata and ruleSet as registering
                live = [r for r in rows if not r.deleted]
                inherited = await self._inherited(session, parsed, live)
                if inherited != parsed:
                    found = await self._find(session, inherited, visible)
            if found is None:
                raise SchemaNotFound("Schema not found")
            row, stored = found
            return schema_body(stored, subject=subject, version=row.version, id=stored.id)

        return await self.store.read(op)

    async def _find(
        self, session: AsyncSession, parsed: ParsedSchema, rows: Sequence[VersionRow]
    ) -> tuple[VersionRow, StoredSchema] | None:
        """The newest of ``rows`` whose schema is ``parsed``."""
        for row in reversed(rows):
            stored = await self.schema(row.schema_id, session)
            if stored.fingerprint == parsed.fingerprint:
                return row, stored
        return None

    # --- subjects and versions ----------------------------------------------------------------

    async def subjects(self, prefix: str, *, deleted: bool, deleted_only: bool) -> list[str]:
        found = await self.store.read(lambda s: store.subjects(s, prefix))
        if deleted_only:  # Confluent: a deleted subject is one whose every version is deleted
            return [name for name, flags in found.items() if all(flags)]
        if deleted:
            return list(found)
        return [name for name, flags in found.items() if not all(flags)]

    async def _rows(self, session: AsyncSession, subject: str) -> list[VersionRow]:
        rows = await store.versions(session, subject)
        if not rows:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        return rows

    async def versions(self, subject: str, *, deleted: bool, deleted_only: bool) -> list[int]:
        rows = await self.store.read(lambda s: self._rows(s, subject))
        if deleted_only:
            return [r.version for r in rows if r.deleted]
        chosen = [r.version for r in rows if deleted or not r.deleted]
        if not chosen:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        return chosen

    @staticmethod
    def _pick(
        rows: Sequence[VersionRow], subject: str, version: int | None, *, deleted: bool
    ) -> VersionRow:
        visible = [r for r in rows if deleted or not r.deleted]
        if version is None:
            if not visible:
                raise SubjectNotFound(f"Subject '{subject}' not found.")
            return visible[-1]
        row = next((r for r in visible if r.version == version), None)
        if row is None:
            raise VersionNotFound(f"Version {version} not found.")
        return row

    async def version(self, subject: str, version: str, *, deleted: bool) -> dict[str, Any]:
        wanted = parse_version(version)

        async def op(session: AsyncSession) -> dict[str, Any]:
            row = self._pick(await self._rows(session, subject), subject, wanted, deleted=deleted)
            stored = await self.schema(row.schema_id, session)
            return schema_body(stored, subject=subject, version=row.version, id=stored.id)

        return await self.store.read(op)

    async def referenced_by(self, subject: str, version: str) -> list[int]:
        wanted = parse_version(version)

        async def op(session: AsyncSession) -> list[int]:
            row = self._pick(await self._rows(session, subject), subject, wanted, deleted=False)
            return await store.referencing_schema_ids(session, subject, row.version)

        return await self.store.read(op)

    async def delete_subject(self, subject: str, *, permanent: bool) -> list[int]:
        """Confluent's order of checks: the subject (40401), a soft delete of a soft-deleted one
        (40404), the mode (42205), then version by version, oldest first, references from
        other subjects (42206) before a permanent delete of a live version (40405)."""

        async def op(session: AsyncSession) -> list[int]:
            rows = await self._rows(session, subject)
            live = [r for r in rows if not r.deleted]
            if not permanent and not live:
                raise SubjectSoftDeleted(
                    f"Subject '{subject}' was soft deleted. "
                    "Set permanent=true to delete permanently"
                )
            await self._ensure_writable(session, subject)
            for row in rows if permanent else live:
                await self._ensure_unreferenced(
                    session, row, permanent=permanent, whole_subject=True
                )
                if permanent and not row.deleted:
                    raise SubjectNotSoftDeleted(
                        f"Subject '{subject}' was not deleted first before being permanently "
                        "deleted"
                    )
            if permanent:
                numbers = [r.version for r in rows]
                self.forget(await store.remove_versions(session, subject, numbers))
                await store.drop_subject_settings(session, subject)
                return numbers
            await store.mark_deleted(session, subject, [r.version for r in live])
            # Confluent: deleting a subject deletes its compatibility level (and mode) too.
            await store.drop_subject_settings(session, subject)
            return [r.version for r in live]

        return await self.store.write(op)

    async def delete_version(self, subject: str, version: str, *, permanent: bool) -> int:
        """Confluent's order of checks: the version id (42202), a soft delete of a soft-deleted
        version (40406), the subject and version (40401, 40402), the mode (42205), references
        (42206), and last a permanent delete of a live version (40407)."""
        wanted = parse_version(version)

        async def op(session: AsyncSession) -> int:
            rows = await store.versions(session, subject)
            if wanted is None:
                row = next((r for r in reversed(rows) if not r.deleted), None)
            else:
                row = next((r for r in rows if r.version == wanted), None)
            if row is not None and row.deleted and not permanent:
                raise VersionSoftDeleted(
                    f"Subject '{subject}' Version {row.version} was soft deleted. "
                    "Set permanent=true to delete permanently"
                )
            if row is None:
                if not rows:
                    raise SubjectNotFound(f"Subject '{subject}' not found.")
                raise VersionNotFound(f"Version {-1 if wanted is None else wanted} not found.")
            await self._ensure_writable(session, subject)
            await self._ensure_unreferenced(session, row, permanent=permanent)
            if permanent and not row.deleted:
                raise VersionNotSoftDeleted(
                    f"Subject '{subject}' Version {row.version} was not deleted first before "
                    "being permanently deleted"
                )
            if permanent:
                self.forget(await store.remove_versions(session, subject, [row.version]))
            else:
                await store.mark_deleted(session, subject, [row.version])
            return row.version

        return await self.store.write(op)

    @staticmethod
    async def _ensure_unreferenced(
        session: AsyncSession, row: VersionRow, *, permanent: bool, whole_subject: bool = False
    ) -> None:
        """42206 when another schema references ``row``: for a soft delete, a schema some live
        version uses; for a permanent one, any schema a version uses, soft-deleted or not (a
        soft delete can be undone by registering again). A subject being deleted whole does not
        count references from its own versions (Confluent's rule)."""
        users = await store.referencing_subjects(
            session, row.subject, row.version, live_only=not permanent
        )
        if whole_subject:
            users.discard(row.subject)
        if users:
            raise ReferenceExists(
                "One or more references exist to the schema "
                f"{{magic=1,keytype=SCHEMA,subject={row.subject},version={row.version}}}."
            )

    async def schema_usages(self, schema_id: int, *, deleted: bool) -> list[VersionRow]:
        rows = await self.store.read(lambda s: store.schema_usages(s, schema_id))
        if not rows:  # Confluent words this one without the id
            raise SchemaNotFound("Schema not found")
        return [r for r in rows if deleted or not r.deleted]

    async def all_schemas(
        self, prefix: str, *, deleted: bool, latest_only: bool
    ) -> list[dict[str, Any]]:
        rows = [
            r
            for r in await self.store.read(lambda s: store.all_versions(s, prefix))
            if deleted or not r.deleted
        ]
        if latest_only:
            rows = list({r.subject: r for r in rows}.values())
        bodies = []
        for row in rows:
            stored = await self.schema(row.schema_id)
            bodies.append(
                schema_body(stored, subject=row.subject, version=row.version, id=row.schema_id)
            )
        return bodies

    # --- compatibility -------------------------------------------------------------------

    async def test_compatibility(
        self, subject: str, version: str | None, request: SchemaRequest, *, normalize: bool
    ) -> tuple[bool, list[str], CompatibilityLevel]:
        """Is ``request`` compatible with ``version`` (or, without one, with what the level
        says: the latest, or all versions for transitive levels)?"""
        wanted = None if version is None else parse_version(version)

        async def op(session: AsyncSession) -> tuple[bool, list[str], CompatibilityLevel]:
            level = CompatibilityLevel(await self._effective_compatibility(session, subject))
            live = [r for r in await store.versions(session, subject) if not r.deleted]
            # as Confluent: a version asked for is looked up before the schema is parsed, and a
            # missing one is 40402 even when the subject is missing too
            if version is None:
                against = live if level.value.endswith("TRANSITIVE") else live[-1:]
            elif wanted is None:
                against = live[-1:]
            else:
                against = [self._pick(live, subject, wanted, deleted=False)]
            parsed = await self._parse(session, request, normalize=normalize, as_new=False)
            if level == CompatibilityLevel.NONE or not against:
                return True, [], level
            messages = await self._incompatibilities(session, parsed, against, level)
            return not messages, messages, level

        return await self.store.read(op)

    # --- configuration and mode ----------------------------------------------------------

    async def _effective(self, session: AsyncSession, subject: str, name: str) -> str | None:
        """The subject's own setting, else the registry-wide one (one query for both)."""
        found = await store.settings_of(session, (subject, GLOBAL), name)
        return found.get(subject) or found.get(GLOBAL)

    async def _effective_compatibility(self, session: AsyncSession, subject: str) -> str:
        found = await self._effective(session, subject, "compatibility")
        return found or self.settings.default_compatibility

    async def _effective_lint(self, session: AsyncSession, subject: str) -> str:
        return await self._effective(session, subject, "lint") or self.settings.default_lint

    async def _effective_mode(self, session: AsyncSession, subject: str) -> str:
        if await store.setting(session, GLOBAL, "mode") == "READONLY_OVERRIDE":
            return "READONLY_OVERRIDE"  # the one global mode a subject's mode cannot override
        return await self._effective(session, subject, "mode") or "READWRITE"

    async def _ensure_writable(self, session: AsyncSession, subject: str) -> None:
        if (await self._effective_mode(session, subject)).startswith("READONLY"):
            raise OperationNotPermitted(f"Subject {subject} is in read-only mode")

    async def config(self, subject: str | None, *, default_to_global: bool) -> dict[str, str]:
        async def op(session: AsyncSession) -> dict[str, str]:
            key = GLOBAL if subject is None else subject
            level = await store.setting(session, key, "compatibility")
            lint = await store.setting(session, key, "lint")
            if subject is not None and level is None:
                if lint is None and not default_to_global:
                    raise SubjectConfigNotFound(
                        f"Subject '{subject}' does not have subject-level compatibility configured"
                    )
                level = await store.setting(session, GLOBAL, "compatibility")
            if lint is None:
                lint = await store.setting(session, GLOBAL, "lint")
            return {
                "compatibilityLevel": level or self.settings.default_compatibility,
                "lint": lint or self.settings.default_lint,
            }

        return await self.store.read(op)

    async def set_config(self, subject: str | None, body: Any) -> dict[str, str]:
        if not isinstance(body, dict):
            raise InvalidCompatibilityLevel("the request body must be a JSON object")
        values: dict[str, str] = {}
        level = body.get("compatibility", body.get("compatibilityLevel"))
        if level is not None:
            if not isinstance(level, str) or level.upper() not in CompatibilityLevel.__members__:
                raise InvalidCompatibilityLevel(
                    f"Invalid compatibility level. Valid values are none, backward, forward, "
                    f"full, backward_transitive, forward_transitive and full_transitive: {level}"
                )
            values["compatibility"] = level.upper()
        lint = body.get("lint")
        if lint is not None:
            if not isinstance(lint, str) or lint.lower() not in {m.value for m in LintLevel}:
                raise InvalidCompatibilityLevel(f"Invalid lint level {lint!r}: off, warn, enforce")
            values["lint"] = lint.lower()
        if not values:
            raise InvalidCompatibilityLevel("Invalid compatibility level: none given")
        await self.store.write(
            lambda s: store.put_setting(s, GLOBAL if subject is None else subject, **values)
        )
        return values

    async def delete_config(self, subject: str | None) -> dict[str, str]:
        previous = await self.config(subject, default_to_global=False)

        async def op(session: AsyncSession) -> None:
            await store.put_setting(
                session, GLOBAL if subject is None else subject, compatibility=None, lint=None
            )

        await self.store.write(op)
        return previous

    async def mode(self, subject: str | None, *, default_to_global: bool) -> str:
        async def op(session: AsyncSession) -> str:
            if subject is None:
                return await store.setting(session, GLOBAL, "mode") or "READWRITE"
            mode = await store.setting(session, subject, "mode")
            if mode is None:
                if not default_to_global:
                    raise SubjectModeNotFound(
                        f"Subject '{subject}' does not have subject-level mode configured"
                    )
                mode = await store.setting(session, GLOBAL, "mode") or "READWRITE"
            return mode

        return await self.store.read(op)

    async def set_mode(self, subject: str | None, body: Any, *, force: bool) -> str:
        mode = body.get("mode") if isinstance(body, dict) else None
        if not isinstance(mode, str) or mode.upper() not in MODES:
            raise InvalidMode(f"Invalid mode. Valid values are {', '.join(MODES)}: {mode}")
        mode = mode.upper()

        async def op(session: AsyncSession) -> None:
            if mode == "IMPORT" and not force:
                existing = (
                    await store.subjects(session)
                    if subject is None
                    else {subject: [r.deleted for r in await store.versions(session, subject)]}
                )
                if any(existing.values()):
                    raise OperationNotPermitted(
                        "Cannot import since found existing subjects; use force=true to override"
                    )
            await store.put_setting(session, GLOBAL if subject is None else subject, mode=mode)

        await self.store.write(op)
        return mode

    async def delete_mode(self, subject: str | None) -> str:
        previous = await self.mode(subject, default_to_global=False)
        key = GLOBAL if subject is None else subject
        await self.store.write(lambda s: store.put_setting(s, key, mode=None))
        return previous
