"""``sql-sink``: a dataset's records upserted into a table by key (SQLAlchemy's async engines).

A batch is one transaction of ``INSERT ... ON CONFLICT (key columns) DO UPDATE``: a record whose key
is new inserts a row, a known key updates it, so a batch the worker repeats after a crash writes the
same rows again and nothing twice. Within a batch the last record of a key wins (and PostgreSQL
refuses to touch a row twice in one statement, so the repeats are dropped before it).

``mapping`` names the fields to write and their columns (field → column); without it every field
that has a column of the same name is written. Each value is checked against its column's type
before anything is executed (a missing key, a text where a number goes, a number too large, a text
too long, NULL in a NOT NULL column): such a record is rejected with the reason and the rest of the
batch is written. Should the database refuse the batch anyway (a constraint, a trigger), its records
are written one by one to find the ones it refuses. Nested values (records, arrays, maps) go to JSON
columns as they are and to text columns as JSON text; a datetime goes to a column without time zone
in UTC.

The table must exist unless ``auto_create``: then the first batch creates it, with the key as
primary key and column types taken from the values of that batch (a plugin does not see the
contract); a field first seen later has no column and is not written. The checks of the values and
the column types of a created table are in :mod:`.sql_values`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final, Self

from pydantic import Field, model_validator
from sqlalchemy import Column, MetaData, Table, Text, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Inspector
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeEngine

from services.connectors.plugin import PluginConfig, Rejected, SinkConnector, SinkRecord
from services.connectors.plugins.sql_values import Unfit, column_type, fit
from services.core.config import normalize_database_url

log = logging.getLogger(__name__)

INSERTS: Final = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class SqlSinkConfig(PluginConfig):
    url: str = Field(description="SQLAlchemy URL, e.g. postgresql://user:pw@host/db.")
    table: str = Field(description="Table to write (schema.table allowed).")
    key_fields: list[str] = Field(
        min_length=1, description="Fields whose columns are the table's primary or unique key."
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Field → column; only these fields are written."
    )
    auto_create: bool = Field(default=False, description="Create the table if it is missing.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.key_fields)) != len(self.key_fields):
            raise ValueError("key_fields names a field twice")
        columns = [self.mapping.get(f, f) for f in {*self.mapping, *self.key_fields}]
        if len(set(columns)) != len(columns):
            raise ValueError("mapping writes two fields to one column")
        return self


class SqlSink(SinkConnector):
    """Upserts each batch into ``table`` in one transaction."""

    Config = SqlSinkConfig
    config: SqlSinkConfig
    engine: AsyncEngine | None = None
    table: Table | None = None

    async def start(self) -> None:
        engine = create_async_engine(normalize_database_url(self.config.url), poolclass=NullPool)
        if engine.dialect.name not in INSERTS:
            await engine.dispose()
            raise RuntimeError(f"sql-sink writes to {' or '.join(INSERTS)}, not {engine.name}")
        self.engine = engine
        self.table = await self._reflect()
        if self.table is None and not self.config.auto_create:
            raise RuntimeError(f"table {self.config.table} does not exist (or set auto_create)")

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    @property
    def key_columns(self) -> list[str]:
        return [self.config.mapping.get(field, field) for field in self.config.key_fields]

    async def _reflect(self) -> Table | None:
        assert self.engine is not None  # noqa: S101 - started first
        schema, _, name = self.config.table.rpartition(".")

        def reflect(conn: Connection) -> tuple[Table, list[set[str]]] | None:
            inspector = inspect(conn)
            if not inspector.has_table(name, schema=schema or None):
                return None
            table = Table(name, MetaData(), schema=schema or None, autoload_with=conn)
            return table, unique_keys(inspector, name, schema or None)

        async with self.engine.connect() as conn:
            found = await conn.run_sync(reflect)
        if found is None:
            return None
        table, uniques = found
        self._check(table, uniques)
        return table

    def _check(self, table: Table, uniques: list[set[str]]) -> None:
        """The table has the columns to write and a unique key on exactly the key columns."""
        wanted = {*self.key_columns, *self.config.mapping.values()}
        missing = sorted(wanted - set(table.c.keys()))
        if missing:
            raise RuntimeError(f"table {self.config.table} has no column(s) {missing}")
        keys = set(self.key_columns)
        if keys not in uniques:
            raise RuntimeError(
                f"table {self.config.table} has no primary key or unique constraint on exactly"
                f" {sorted(keys)}: ON CONFLICT needs one"
            )

    def _pairs(self, value: Mapping[str, Any], columns: set[str] | None) -> list[tuple[str, str]]:
        """(field, column) of what ``value`` writes; ``columns`` None: every field (creating)."""
        mapping = self.config.mapping
        if mapping:
            fields = [*mapping, *(f for f in self.config.key_fields if f not in mapping)]
            return [(f, mapping.get(f, f)) for f in fields if f in value]
        return [(f, f) for f in value if columns is None or f in columns]

    async def put(self, records: Sequence[SinkRecord]) -> Sequence[Rejected]:
        if not records:
            return []
        if self.table is None:
            self.table = await self._create(records)
        table = self.table
        rejected: list[Rejected] = []
        latest: dict[tuple[Any, ...], tuple[SinkRecord, dict[str, Any]]] = {}
        fitting: list[tuple[SinkRecord, dict[str, Any]]] = []
        for record in records:
            try:
                row = self._row(table, record)
            except Unfit as exc:
                rejected.append(Rejected(record, str(exc)))
                continue
            fitting.append((record, row))
            key = tuple(row[column] for column in self.key_columns)
            latest.pop(key, None)  # the last record of a key wins, in its place
            latest[key] = (record, row)
        good = list(latest.values())
        if not good:
            return rejected
        try:
            await self._write(table, [row for _, row in good])
        except sa_exc.StatementError as exc:
            if not refuses_data(exc):
                raise  # the database is down or the table changed: the worker retries the batch
            # the class only: the message and the statement's parameters may hold personal data
            log.warning(
                "sql-sink %s: batch refused (%s), writing it record by record",
                self.name,
                type(exc.orig or exc).__name__,
            )
            # Every fitting record, in order (not only each key's last): if the last of a key is
            # the one refused, the earlier ones must still be written or dead-lettered.
            rejected.extend(await self._one_by_one(table, fitting))
        return rejected

    def _row(self, table: Table, record: SinkRecord) -> dict[str, Any]:
        value = record.value
        if value is None:
            raise Unfit("the record has no decoded value")
        absent = [field for field in self.config.key_fields if value.get(field) is None]
        if absent:
            raise Unfit(f"the record has no value for key field(s) {absent}")
        assert self.engine is not None  # noqa: S101 - started first
        naive = self.engine.dialect.name == "sqlite"  # SQLite keeps no time zones: store UTC
        json_form = record.json or {}
        row: dict[str, Any] = {}
        for field, name in self._pairs(value, set(table.c.keys())):
            column = table.c[name]
            try:
                row[name] = fit(column, value[field], json_form.get(field), naive=naive)
            except Unfit as exc:
                raise Unfit(f"field {field!r} → column {name!r} ({column.type}): {exc}") from None
        return row

    async def _write(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        assert self.engine is not None  # noqa: S101 - started first
        # one statement per set of columns: records that lack a field must not null its column
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[tuple(row)].append(row)
        async with self.engine.begin() as conn:
            for columns, group in groups.items():
                await conn.execute(self._upsert(table, columns), group)

    def _upsert(self, table: Table, columns: Sequence[str]) -> Any:
        assert self.engine is not None  # noqa: S101 - started first
        # both dialects' inserts have the same ON CONFLICT methods; their stubs share no base
        statement: Any = INSERTS[self.engine.dialect.name](table)
        keys = self.key_columns
        updates = {c: statement.excluded[c] for c in columns if c not in keys}
        if not updates:
            return statement.on_conflict_do_nothing(index_elements=keys)
        return statement.on_conflict_do_update(index_elements=keys, set_=updates)

    async def _one_by_one(
        self, table: Table, good: Sequence[tuple[SinkRecord, dict[str, Any]]]
    ) -> list[Rejected]:
        rejected = []
        for record, row in good:
            try:
                await self._write(table, [row])
            except sa_exc.StatementError as exc:
                if not refuses_data(exc):
                    raise
                reason = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
                rejected.append(Rejected(record, f"the database refused the record: {reason}"))
        return rejected

    async def _create(self, records: Sequence[SinkRecord]) -> Table:
        """The table for ``records``: their fields as columns typed after their values."""
        assert self.engine is not None  # noqa: S101 - started first
        types: dict[str, TypeEngine[Any] | None] = {}
        for record in records:
            value = record.value or {}
            for field, name in self._pairs(value, None):
                if types.get(name) is None:
                    types[name] = column_type(value[field], self.engine.dialect.name)
        keys = self.key_columns
        schema, _, name = self.config.table.rpartition(".")
        columns = [
            Column(column, types.get(column) or Text(), primary_key=column in keys)
            for column in [*keys, *(c for c in types if c not in keys)]
        ]
        table = Table(name, MetaData(), *columns, schema=schema or None)
        async with self.engine.begin() as conn:
            await conn.run_sync(table.create, checkfirst=True)
        log.info("sql-sink %s created table %s", self.name, self.config.table)
        created = await self._reflect()
        assert created is not None  # noqa: S101 - just created
        return created


def unique_keys(inspector: Inspector, table: str, schema: str | None) -> list[set[str]]:
    """The column sets of the table's primary key, unique constraints and unique indexes."""
    keys = [set(inspector.get_pk_constraint(table, schema)["constrained_columns"])]
    keys += [set(u["column_names"]) for u in inspector.get_unique_constraints(table, schema)]
    # SQLite hides a column's own UNIQUE in an automatic index, listed only when asked for
    extra = {"include_auto_indexes": True} if inspector.dialect.name == "sqlite" else {}
    indexes = inspector.get_indexes(table, schema, **extra)
    keys += [{str(c) for c in i["column_names"] if c} for i in indexes if i["unique"]]
    return keys


def refuses_data(exc: sa_exc.StatementError) -> bool:
    """Whether ``exc`` refuses the values (a constraint, a conversion: the records are to blame)
    rather than the statement or the connection (the batch is to be retried as a whole)."""
    if isinstance(exc, sa_exc.DataError | sa_exc.IntegrityError):
        return True
    return not isinstance(exc, sa_exc.DBAPIError)  # a driver-side conversion of a value
