"""SQL access for the registry: rows in, plain values out. No API semantics here."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, delete, exists, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.avro.references import Reference
from services.core.db.engine import SQLITE_BEGIN
from services.core.db.models import (
    RegistryReference,
    RegistrySchema,
    RegistrySettings,
    RegistrySubjectVersion,
)
from services.registry.errors import StoreError
from services.registry.schema import ParsedSchema

T = TypeVar("T")
WRITE_ATTEMPTS = 20
_PG_WRITE_LOCK = 0x6E647872  # "ndxr": the registry's writers, across replicas
GLOBAL = ""  # the subject key of the registry-wide settings


@dataclass(frozen=True)
class StoredSchema:
    id: int
    schema_type: str
    text: str
    fingerprint: str
    references: tuple[Reference, ...]


@dataclass(frozen=True)
class VersionRow:
    subject: str
    version: int
    schema_id: int
    deleted: bool


class Store:
    """Transactions over the registry tables; writes retry on conflicts between replicas."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self.sessions = sessions
        self.sqlite = dialect == "sqlite"
        # SQLite has one writer at a time; queueing this process's writers here is fairer and
        # faster than letting them poll the file lock (other processes still use busy_timeout).
        self._sqlite_writer = asyncio.Lock()

    async def read(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessions() as session:
            return await op(session)

    async def write(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``op`` in one transaction, the registry's writers one at a time.

        Writes are rare and each assigns ``max + 1`` ids and versions, so they are serialized:
        on PostgreSQL by a transaction-level advisory lock shared by every replica, on SQLite by
        the file's write lock (taken up front) and, within a process, a queue. The unique
        constraints stay the last line of defence; a conflict they catch is retried.
        """
        if not self.sqlite:
            return await self._write(op)
        async with self._sqlite_writer:
            return await self._write(op)

    async def _write(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                async with self.sessions() as session:
                    if self.sqlite:  # take the write lock up front: no deadlock on upgrade
                        await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
                    else:
                        await session.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK}
                        )
                    result = await op(session)
                    await session.commit()
                    return result
            except IntegrityError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or attempt == WRITE_ATTEMPTS - 1:
                    raise StoreError(f"the registry store failed: {exc.orig}") from exc
        raise StoreError("the registry store kept conflicting")  # pragma: no cover


async def versions(session: AsyncSession, subject: str) -> list[VersionRow]:
    """Every version row of ``subject``, soft-deleted included, oldest first."""
    rows = await session.execute(
        select(
            RegistrySubjectVersion.version,
            RegistrySubjectVersion.schema_id,
            RegistrySubjectVersion.deleted,
        )
        .where(RegistrySubjectVersion.subject == subject)
        .order_by(RegistrySubjectVersion.version)
    )
    return [VersionRow(subject, v, sid, bool(d)) for v, sid, d in rows]


async def subjects(session: AsyncSession, prefix: str = "") -> dict[str, list[bool]]:
    """Subject → the deleted flags of its versions."""
    query = select(RegistrySubjectVersion.subject, RegistrySubjectVersion.deleted)
    if prefix:
        query = query.where(RegistrySubjectVersion.subject.startswith(prefix, autoescape=True))
    found: dict[str, list[bool]] = {}
    for subject, deleted in await session.execute(query.order_by(RegistrySubjectVersion.subject)):
        found.setdefault(subject, []).append(bool(deleted))
    return found


async def schema(
    session: AsyncSession, schema_id: int, *, in_use: bool = False
) -> StoredSchema | None:
    """Schema ``schema_id``; with ``in_use``, only while a version (soft-deleted or not) uses it."""
    row = await session.get(RegistrySchema, schema_id)
    if row is None or (in_use and not await _used(session, schema_id)):
        return None
    return _stored(row)


async def _used(session: AsyncSession, schema_id: int) -> bool:
    query = select(exists().where(RegistrySubjectVersion.schema_id == schema_id))
    return bool(await session.scalar(query))


async def schema_by_fingerprint(session: AsyncSession, fingerprint: str) -> StoredSchema | None:
    row = (
        await session.execute(
            select(RegistrySchema).where(RegistrySchema.fingerprint == fingerprint)
        )
    ).scalar_one_or_none()
    return None if row is None else _stored(row)


def _stored(row: RegistrySchema) -> StoredSchema:
    refs = tuple(Reference(r["name"], r["subject"], r["version"]) for r in row.references)
    return StoredSchema(row.id, row.schema_type, row.schema, row.fingerprint, refs)


async def insert_schema(session: AsyncSession, parsed: ParsedSchema, schema_id: int | None) -> int:
    if schema_id is None:
        schema_id = (await session.scalar(select(func.max(RegistrySchema.id))) or 0) + 1
    session.add(
        RegistrySchema(
            id=schema_id,
            schema_type=parsed.schema_type,
            schema=parsed.text,
            fingerprint=parsed.fingerprint,
            references=[r.as_json() for r in parsed.references],
        )
    )
    await session.flush()  # the schema row first: its reference rows point at it
    session.add_all(
        RegistryReference(schema_id=schema_id, name=r.name, subject=r.subject, version=r.version)
        for r in parsed.references
    )
    await session.flush()
    return schema_id


async def insert_version(session: AsyncSession, subject: str, version: int, schema_id: int) -> None:
    session.add(RegistrySubjectVersion(subject=subject, version=version, schema_id=schema_id))
    await session.flush()


async def mark_deleted(session: AsyncSession, subject: str, version_list: Sequence[int]) -> None:
    await session.execute(
        update(RegistrySubjectVersion)
        .where(RegistrySubjectVersion.subject == subject)
        .where(RegistrySubjectVersion.version.in_(version_list))
        .values(deleted=True)
    )


async def remove_versions(
    session: AsyncSession, subject: str, version_list: Sequence[int]
) -> list[int]:
    """Delete version rows for good; returns the ids of the schemas no version uses any more.

    Their rows stay (unlisted, see ``schema(in_use=True)``) so that an id is never given to
    another schema: clients cache id → schema forever, as with Confluent's id generator."""
    ids = set(
        await session.scalars(
            select(RegistrySubjectVersion.schema_id)
            .where(RegistrySubjectVersion.subject == subject)
            .where(RegistrySubjectVersion.version.in_(version_list))
        )
    )
    await session.execute(
        delete(RegistrySubjectVersion)
        .where(RegistrySubjectVersion.subject == subject)
        .where(RegistrySubjectVersion.version.in_(version_list))
    )
    return [schema_id for schema_id in ids if not await _used(session, schema_id)]


def _referencing(subject: str, version: int, *, live_only: bool) -> Select[int, str]:
    """(schema id, subject) of each version that uses a schema taking a named type from
    ``subject`` ``version``; with ``live_only``, versions not soft-deleted only."""
    query = (
        select(RegistryReference.schema_id, RegistrySubjectVersion.subject)
        .where(RegistryReference.subject == subject)
        .where(RegistryReference.version == version)
        .join(
            RegistrySubjectVersion,
            RegistrySubjectVersion.schema_id == RegistryReference.schema_id,
        )
        .distinct()
    )
    if live_only:
        query = query.where(RegistrySubjectVersion.deleted.is_(False))
    return query


async def referencing_schema_ids(
    session: AsyncSession, subject: str, version: int, *, live_only: bool = True
) -> list[int]:
    """Ids of schemas (in use by a version) that take a named type from ``subject`` ``version``."""
    rows = await session.execute(_referencing(subject, version, live_only=live_only))
    return sorted({schema_id for schema_id, _ in rows})


async def referencing_subjects(
    session: AsyncSession, subject: str, version: int, *, live_only: bool
) -> set[str]:
    """Subjects with a version whose schema takes a named type from ``subject`` ``version``."""
    rows = await session.execute(_referencing(subject, version, live_only=live_only))
    return {user for _, user in rows}


async def schema_usages(session: AsyncSession, schema_id: int) -> list[VersionRow]:
    rows = await session.execute(
        select(
            RegistrySubjectVersion.subject,
            RegistrySubjectVersion.version,
            RegistrySubjectVersion.deleted,
        )
        .where(RegistrySubjectVersion.schema_id == schema_id)
        .order_by(RegistrySubjectVersion.subject, RegistrySubjectVersion.version)
    )
    return [VersionRow(s, v, schema_id, bool(d)) for s, v, d in rows]


async def all_versions(session: AsyncSession, prefix: str = "") -> list[VersionRow]:
    query = select(
        RegistrySubjectVersion.subject,
        RegistrySubjectVersion.version,
        RegistrySubjectVersion.schema_id,
        RegistrySubjectVersion.deleted,
    ).order_by(RegistrySubjectVersion.subject, RegistrySubjectVersion.version)
    if prefix:
        query = query.where(RegistrySubjectVersion.subject.startswith(prefix, autoescape=True))
    return [VersionRow(s, v, sid, bool(d)) for s, v, sid, d in await session.execute(query)]


async def setting(session: AsyncSession, subject: str, name: str) -> str | None:
    row = await session.get(RegistrySettings, subject)
    value: str | None = None if row is None else getattr(row, name)
    return value


async def settings_of(
    session: AsyncSession, keys: Sequence[str], name: str
) -> dict[str, str | None]:
    """Setting ``name`` of each of ``keys`` that has a settings row."""
    column = getattr(RegistrySettings, name)
    rows = await session.execute(
        select(RegistrySettings.subject, column).where(RegistrySettings.subject.in_(keys))
    )
    return dict(rows.all())


async def put_setting(session: AsyncSession, subject: str, **values: Any) -> None:
    row = await session.get(RegistrySettings, subject)
    if row is None:
        row = RegistrySettings(subject=subject)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()


async def drop_subject_settings(session: AsyncSession, subject: str) -> None:
    await session.execute(delete(RegistrySettings).where(RegistrySettings.subject == subject))
