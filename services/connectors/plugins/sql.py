"""``sql-source``: rows of a table or query, through SQLAlchemy's async engines.

Modes, as Kafka Connect's JDBC source has them:

- ``bulk``: the whole table on every poll (for small reference tables). A row's event id is a
  digest of its content: the same on every poll while the row is unchanged, a new one once it
  changes (identical rows share one);
- ``incrementing``: rows whose ``incrementing_column`` is above the last one seen (new rows only);
- ``timestamp``: rows whose ``timestamp_column`` is after the last one seen (new and updated rows;
  an update is a new event). Rows younger than ``delay_seconds`` wait for a later poll, so a
  transaction that commits late with an earlier timestamp is not skipped; "now" is the database's
  clock (``CURRENT_TIMESTAMP``, as Kafka Connect's JDBC source takes it), not the worker's. The
  offset is the last timestamp, so a batch never splits the rows of one timestamp: it takes all of
  them, even beyond ``batch_size``;
- ``timestamp+incrementing``: both, ordered by (timestamp, id): the exact position of a row, so
  rows sharing a timestamp may span batches.

Rows whose timestamp is NULL are never read. A timestamp column without a time zone is compared
as the database compares it with its now: PostgreSQL in the session's time zone; SQLite, which
has no timestamp type, as text in UTC written ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (as SQLAlchemy and
its ``CURRENT_TIMESTAMP`` write it).

``query`` reads a ``SELECT`` instead of a table (it becomes a subquery the mode filters, orders
and limits). ``mapping`` renames columns to the contract's fields; when given, only mapped
columns are sent, and rows without a mapped column (or without ``key_column``) go to the DLQ.
``key_column``'s value, as text, keys the records (a NULL gives no key).

**Backlog.** Outside ``bulk`` mode the source can tell how many rows wait after its offset: the
poll's own condition, counted (``SELECT COUNT(*)`` over at most ``BACKLOG_CAP`` rows: beyond, at
least that many). The worker asks every few seconds and exports it as
``ndxp_connector_source_lag_records``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from sqlalchemy import DateTime, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from services.connectors.plugin import Batch, Offset, PluginConfig, SourceConnector, SourceRecord
from services.core.config import normalize_database_url

Mode = Literal["bulk", "incrementing", "timestamp", "timestamp+incrementing"]
BACKLOG_CAP = 1_000_000  # rows a backlog count reads at most
Row = dict[str, Any]


class SqlSourceConfig(PluginConfig):
    url: str = Field(description="SQLAlchemy URL, e.g. postgresql://user:pw@host/db.")
    table: str | None = Field(default=None, description="Table to read (schema.table allowed).")
    query: str | None = Field(default=None, description="A SELECT to read instead of a table.")
    mode: Mode = "incrementing"
    incrementing_column: str | None = None
    timestamp_column: str | None = None
    delay_seconds: float = Field(default=0.0, ge=0)
    key_column: str | None = Field(default=None, description="Column whose value keys records.")
    mapping: dict[str, str] = Field(default_factory=dict, description="Column → field.")
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    poll_interval_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table and query")
        if "incrementing" in self.mode and not self.incrementing_column:
            raise ValueError(f"mode {self.mode} needs incrementing_column")
        if "timestamp" in self.mode and not self.timestamp_column:
            raise ValueError(f"mode {self.mode} needs timestamp_column")
        return self


class SqlSource(SourceConnector):
    Config = SqlSourceConfig
    config: SqlSourceConfig
    engine: AsyncEngine | None = None

    async def start(self) -> None:
        self.engine = create_async_engine(
            normalize_database_url(self.config.url), poolclass=NullPool
        )

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()

    def _quote(self, name: str) -> str:
        assert self.engine is not None  # noqa: S101 - started first
        quote = self.engine.dialect.identifier_preparer.quote
        return ".".join(quote(part) for part in name.split("."))

    def _source(self) -> str:
        if self.config.table is not None:
            return self._quote(self.config.table)
        return f"({self.config.query}) AS ndxp_src"

    async def _upper(self, conn: AsyncConnection) -> datetime:
        """The newest timestamp a poll may take: the database's now minus ``delay_seconds``."""
        if conn.dialect.name == "sqlite":
            # SQLite's clock is this machine's (its CURRENT_TIMESTAMP has whole seconds only); it
            # has no timestamp type: rows hold SQLAlchemy's text form of naive UTC, as we bind it.
            now = datetime.now(UTC).replace(tzinfo=None)
        else:
            # The database's own clock, as Kafka Connect's JDBC source does: the worker's may be
            # off by more than the delay, which would let a late commit's rows be skipped.
            now = (await conn.execute(select(func.current_timestamp()))).scalar_one()
        return now - timedelta(seconds=self.config.delay_seconds)

    async def _select(
        self, conn: AsyncConnection, where: str, order: str, params: dict[str, Any], limit: bool
    ) -> list[Row]:
        sql = f"SELECT * FROM {self._source()}"  # noqa: S608 - identifiers are quoted
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        if limit:
            sql += " LIMIT :ndxp_limit"
            params["ndxp_limit"] = self.config.batch_size
        result = await conn.execute(_statement(sql, params), params)
        # Plain dicts from the rows' tuples: SQLAlchemy's RowMapping costs microseconds per
        # row and column, the largest part of a poll's time at 10,000 rows a batch.
        columns = tuple(result.keys())
        return [dict(zip(columns, values, strict=True)) for values in result.all()]

    async def backlog(self, offset: Offset | None) -> int | None:
        """Rows after ``offset`` that polls will read (up to ``BACKLOG_CAP``); None in ``bulk``
        mode, which has no position."""
        if self.config.mode == "bulk":
            return None
        assert self.engine is not None  # noqa: S101 - started first
        async with self.engine.connect() as conn:
            where, params = await self._after(conn, offset or {})
            sql = (
                f"SELECT COUNT(*) FROM (SELECT 1 AS one FROM {self._source()} "  # noqa: S608
                f"{f'WHERE {where} ' if where else ''}LIMIT :ndxp_cap) AS ndxp_backlog"
            )
            params["ndxp_cap"] = BACKLOG_CAP
            return int((await conn.execute(_statement(sql, params), params)).scalar_one())

    async def poll(self, offset: Offset | None) -> Batch:
        assert self.engine is not None  # noqa: S101 - started first
        async with self.engine.connect() as conn:
            return await self._poll(conn, offset or {})

    async def _poll(self, conn: AsyncConnection, offset: Offset) -> Batch:
        mode = self.config.mode
        if mode == "bulk":
            rows = await self._select(conn, "", "", {}, limit=False)
            return Batch(self.records(rows), None)
        inc = self._quote(self.config.incrementing_column or "")
        ts = self._quote(self.config.timestamp_column or "")
        where, params = await self._after(conn, offset)
        if mode == "incrementing":
            rows = await self._select(conn, where, inc, params, limit=True)
            records = self.records(rows)
            new = self._position(rows[-1]) if rows else offset or None
            return Batch(records, new, more=len(rows) == self.config.batch_size)
        if mode == "timestamp+incrementing":
            rows = await self._select(conn, where, f"{ts}, {inc}", params, limit=True)
        else:
            rows = await self._timestamp_rows(conn, where, ts, params)
        records = self.records(rows)
        new = self._position(rows[-1]) if rows else offset or None
        if new is not None and mode == "timestamp":
            new = {"timestamp": new["timestamp"]}
        return Batch(records, new, more=len(rows) >= self.config.batch_size)

    async def _after(self, conn: AsyncConnection, offset: Offset) -> tuple[str, dict[str, Any]]:
        """The condition (and its parameters) of the rows after ``offset`` a poll may take, in
        a mode with a position: what polls read and what :meth:`backlog` counts."""
        inc = self._quote(self.config.incrementing_column or "")
        ts = self._quote(self.config.timestamp_column or "")
        if self.config.mode == "incrementing":
            where = f"{inc} > :ndxp_inc" if "incrementing" in offset else ""
            return where, {"ndxp_inc": offset.get("incrementing")}
        params = {"ndxp_upper": await self._upper(conn), **_bound(offset)}
        where = f"{ts} <= :ndxp_upper"
        if "timestamp" in offset and self.config.mode == "timestamp":
            where += f" AND {ts} > :ndxp_ts"
        elif "timestamp" in offset:
            where += f" AND ({ts} > :ndxp_ts OR ({ts} = :ndxp_ts AND {inc} > :ndxp_inc))"
        return where, params

    async def _timestamp_rows(
        self, conn: AsyncConnection, where: str, ts: str, params: dict[str, Any]
    ) -> list[Row]:
        """Rows after the last timestamp; a batch never splits the rows of one timestamp."""
        rows = await self._select(conn, where, ts, dict(params), limit=True)
        if len(rows) < self.config.batch_size:
            return rows
        column = self.config.timestamp_column or ""
        last = rows[-1][column]
        kept = [row for row in rows if row[column] != last]
        same = await self._select(conn, f"{ts} = :ndxp_last", "", {"ndxp_last": last}, False)
        return kept + same

    def _position(self, row: Row) -> Offset:
        if self.config.mode == "bulk":
            return {"row": _digest(row)}  # the row's content names it
        position: Offset = {}
        if self.config.timestamp_column:
            position["timestamp"] = _json_value(row[self.config.timestamp_column])
        if self.config.incrementing_column:
            position["incrementing"] = _json_value(row[self.config.incrementing_column])
        if self.config.mode == "timestamp":
            position["row"] = _digest(row)  # rows may share a timestamp
        return position

    def records(self, rows: Sequence[Row]) -> list[SourceRecord]:
        """The rows of one query as records; they all have the same columns."""
        if not rows:
            return []
        first = rows[0]
        key_column = self.config.key_column
        missing = [column for column in self.config.mapping if column not in first]
        if key_column is not None and key_column not in first:
            missing.append(key_column)
        if missing:
            reason = f"the row has no column(s) {missing}"
            return [SourceRecord(self._position(row), None, None, reason) for row in rows]
        position, items = self._position, tuple(self.config.mapping.items())
        return [
            SourceRecord(
                position(row),
                {field: row[column] for column, field in items} if items else row,
                None if key_column is None else _key(row[key_column]),
            )
            for row in rows
        ]


def _key(value: Any) -> str | None:
    return None if value is None else str(value)


def _digest(row: Row) -> str:
    text_form = repr(sorted((str(k), repr(v)) for k, v in row.items()))
    return hashlib.sha256(text_form.encode()).hexdigest()[:32]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and "datetime" in value:
        return datetime.fromisoformat(value["datetime"])
    return value


def _statement(sql: str, params: dict[str, Any]) -> Any:
    """``sql`` as a statement, its upper time bound typed as the value is (zoned or not)."""
    statement = text(sql)
    if isinstance(upper := params.get("ndxp_upper"), datetime):
        zoned = DateTime(timezone=upper.tzinfo is not None)
        statement = statement.bindparams(bindparam("ndxp_upper", type_=zoned))
    return statement


def _bound(offset: Offset) -> dict[str, Any]:
    return {
        "ndxp_ts": _from_json(offset.get("timestamp")),
        "ndxp_inc": offset.get("incrementing"),
    }
