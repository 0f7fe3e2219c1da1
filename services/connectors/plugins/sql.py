"""``sql-source``: rows of a table or query, through SQLAlchemy's async engines.

Modes, as Kafka Connect's JDBC source has them:

- ``bulk``: the whole table on every poll (for small reference tables);
- ``incrementing``: rows whose ``incrementing_column`` is above the last one seen (new rows only);
- ``timestamp``: rows whose ``timestamp_column`` is after the last one seen (new and updated rows);
  rows younger than ``delay_seconds`` wait for the next poll, so a transaction that commits late
  with an earlier timestamp is not skipped;
- ``timestamp+incrementing``: both, ordered by (timestamp, id): the exact position of a row.

``mapping`` renames columns to the contract's fields; when given, only mapped columns are sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from sqlalchemy import DateTime, bindparam, text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from services.connectors.plugin import Batch, Offset, PluginConfig, SourceConnector, SourceRecord
from services.core.config import normalize_database_url

Mode = Literal["bulk", "incrementing", "timestamp", "timestamp+incrementing"]


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

    def _upper(self) -> datetime:
        assert self.engine is not None  # noqa: S101
        upper = datetime.now(UTC) - timedelta(seconds=self.config.delay_seconds)
        return upper.replace(tzinfo=None) if self.engine.dialect.name == "sqlite" else upper

    async def _select(self, where: str, order: str, params: dict[str, Any], limit: bool) -> Any:
        assert self.engine is not None  # noqa: S101
        sql = f"SELECT * FROM {self._source()}"  # noqa: S608 - identifiers are quoted
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        if limit:
            sql += " LIMIT :ndxp_limit"
            params["ndxp_limit"] = self.config.batch_size
        statement = text(sql)
        if "ndxp_upper" in params:
            statement = statement.bindparams(
                bindparam(
                    "ndxp_upper", type_=DateTime(timezone=self.engine.dialect.name != "sqlite")
                )
            )
        async with self.engine.connect() as conn:
            return list((await conn.execute(statement, params)).mappings())

    async def poll(self, offset: Offset | None) -> Batch:
        mode = self.config.mode
        if mode == "bulk":
            rows = await self._select("", "", {}, limit=False)
            return Batch([self.record(row, {"row": _digest(row)}) for row in rows], None)
        inc = self._quote(self.config.incrementing_column or "")
        ts = self._quote(self.config.timestamp_column or "")
        offset = offset or {}
        if mode == "incrementing":
            where = f"{inc} > :ndxp_inc" if "incrementing" in offset else ""
            rows = await self._select(where, inc, {"ndxp_inc": offset.get("incrementing")}, True)
            records = [self.record(row, self._position(row)) for row in rows]
            new = self._position(rows[-1]) if rows else offset or None
            return Batch(records, new, more=len(rows) == self.config.batch_size)
        params = {"ndxp_upper": self._upper(), **_bound(offset)}
        where = f"{ts} <= :ndxp_upper"
        if mode == "timestamp+incrementing":
            if "timestamp" in offset:
                where += f" AND ({ts} > :ndxp_ts OR ({ts} = :ndxp_ts AND {inc} > :ndxp_inc))"
            rows = await self._select(where, f"{ts}, {inc}", params, True)
        else:
            rows = await self._timestamp_rows(where, ts, params, "timestamp" in offset)
        records = [self.record(row, self._position(row)) for row in rows]
        new = self._position(rows[-1]) if rows else offset or None
        if new is not None and mode == "timestamp":
            new = {"timestamp": new["timestamp"]}
        return Batch(records, new, more=len(rows) >= self.config.batch_size)

    async def _timestamp_rows(
        self, where: str, ts: str, params: dict[str, Any], after: bool
    ) -> Sequence[RowMapping]:
        """Rows after the last timestamp; a batch never splits the rows of one timestamp."""
        if after:
            where += f" AND {ts} > :ndxp_ts"
        rows: list[RowMapping] = await self._select(where, ts, dict(params), True)
        if len(rows) < self.config.batch_size:
            return rows
        column = self.config.timestamp_column or ""
        last = rows[-1][column]
        kept = [row for row in rows if row[column] != last]
        same: list[RowMapping] = await self._select(
            f"{ts} = :ndxp_last", "", {"ndxp_last": last}, False
        )
        return kept + same

    def _position(self, row: Mapping[str, Any]) -> Offset:
        position: Offset = {}
        if self.config.timestamp_column:
            position["timestamp"] = _json_value(row[self.config.timestamp_column])
        if self.config.incrementing_column:
            position["incrementing"] = _json_value(row[self.config.incrementing_column])
        if self.config.mode == "timestamp":
            position["row"] = _digest(row)
        return position

    def record(self, row: Mapping[str, Any], position: Offset) -> SourceRecord:
        key = None
        if self.config.key_column is not None:
            key = str(row.get(self.config.key_column))
        mapping = self.config.mapping
        if not mapping:
            return SourceRecord(position, dict(row), key)
        missing = [column for column in mapping if column not in row]
        if missing:
            return SourceRecord(position, None, key, f"the row has no column(s) {missing}")
        return SourceRecord(position, {field: row[col] for col, field in mapping.items()}, key)


def _digest(row: Mapping[str, Any]) -> str:
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


def _bound(offset: Offset) -> dict[str, Any]:
    return {
        "ndxp_ts": _from_json(offset.get("timestamp")),
        "ndxp_inc": offset.get("incrementing"),
    }
