"""Writing audit records: to the control-plane index and the ``ndxp.audit`` topic, in one chain.

Callers ``await log.record(event)`` and get the record's id once it is durable in the control
plane. Behind that, one writer task per process takes whatever records are waiting and writes
them as a group: one short database transaction that appends them to the chain (after the
chain's current head, read under a lock that every replica shares: an advisory lock on
PostgreSQL, the file's write lock on SQLite) and notes them in the outbox. Nothing waits for
Kafka inside it: after the commit the relay (``relay.py``) publishes the outbox to the topic and
retries until Kafka has taken every record, so a stalled broker never holds the lock that every
other write of the control plane needs. A busy hub pays one transaction for many records.

If the transaction fails, every caller of that group gets ``Unavailable``: nothing is
half-recorded. The index is the chain of record, the topic its replica for consumers of the
trail; ``ndxp audit verify --kafka`` tells records the relay has not published yet (pending)
from records missing on the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit.event import GENESIS, AuditEvent, chain_hash, record_fields
from services.core.audit.metrics import RECORDS
from services.core.audit.relay import ProducerFactory, Relay
from services.core.db.engine import SQLITE_BEGIN
from services.core.db.models import AuditOutbox, AuditRecord
from services.core.errors import Unavailable
from services.core.logging import request_id

log = logging.getLogger(__name__)

GROUP_LIMIT: Final = 500
CLOSE_TIMEOUT: Final = 10.0
_RECORDS: Final = AuditRecord.metadata.tables[AuditRecord.__tablename__]
_OUTBOX: Final = AuditOutbox.metadata.tables[AuditOutbox.__tablename__]
# Built once: a statement made per group costs more than the primary-key read it asks for.
_HEAD: Final = select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
_PG_CHAIN_LOCK: Final = 0x6E647861  # "ndxa": the audit chain's head, across replicas


@dataclass
class _Pending:
    event: AuditEvent
    request_id: str | None
    time: datetime
    done: asyncio.Future[str]


class AuditLog:
    """The process's door to the audit trail; start it in a lifespan, stop it on the way out."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dialect: str,
        producer: ProducerFactory | None,
        topic: str,
    ) -> None:
        self.sessions = sessions
        self.sqlite = dialect == "sqlite"
        # Without a producer (tests of other parts) records go to the index only.
        self.relay = None if producer is None else Relay(sessions, producer, topic)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Publish what an earlier run left in the outbox (``record`` starts the relay too)."""
        if self.relay is not None:
            self.relay.kick()

    async def record(self, event: AuditEvent) -> str:
        """Append ``event`` to the chain; its record id once durable in the control plane
        (``Unavailable`` if it could not be); the topic gets it from the relay."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name="audit-writer")
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(event, request_id.get(), datetime.now(UTC), done))
        return await done

    async def close(self) -> None:
        """Write what is queued, stop the writer, and give the relay a last chance to publish."""
        if self._writer is not None:
            if not self._writer.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.join(), CLOSE_TIMEOUT)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self.relay is not None:
            await self.relay.close(CLOSE_TIMEOUT)

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < GROUP_LIMIT and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                ids = await self._write(group)
            except Exception as exc:  # every waiter learns why; the writer goes on
                log.exception("audit records could not be written")
                failure = (
                    exc if isinstance(exc, Unavailable) else Unavailable(f"audit trail: {exc}")
                )
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_exception(failure)
            else:
                for pending, record_id in zip(group, ids, strict=True):
                    if not pending.done.done():
                        pending.done.set_result(record_id)
                if self.relay is not None:
                    self.relay.kick()
            for _ in group:
                self._queue.task_done()

    async def _write(self, group: list[_Pending]) -> list[str]:
        async with self.sessions() as session:
            if self.sqlite:
                await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
            else:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK}
                )
            head = (await session.execute(_HEAD)).first()
            seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS)
            rows = []
            for pending in group:
                seq += 1
                fields = record_fields(
                    pending.event,
                    seq=seq,
                    record_id=str(uuid.uuid4()),
                    time=pending.time,
                    request_id=pending.request_id,
                    prev_hash=prev_hash,
                )
                fields["hash"] = prev_hash = chain_hash(fields)
                rows.append(fields)
            # Core inserts on the tables (one statement each, many rows): no ORM objects to build
            # and flush, nor the ORM's bulk path
            await session.execute(insert(_RECORDS), rows)
            if self.relay is not None:  # after the records: the outbox rows refer to them
                outbox = [{"seq": row["seq"]} for row in rows]
                await session.execute(insert(_OUTBOX), outbox)
            await session.commit()
        for pending in group:
            RECORDS.labels(pending.event.action).inc()
        return [row["id"] for row in rows]
