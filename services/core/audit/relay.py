"""Publishing the audit outbox to the ``ndxp.audit`` topic, outside any database transaction.

The writer appends records to the chain and, in the same transaction, notes each in
``audit_outbox``. A relay runs in every process that writes: it takes the lease on publishing
(:class:`~services.core.db.lease.Lease` ``audit``: one relay at a time across replicas, so the
topic receives the chain in order), reads the oldest outbox records, commits, produces them and
waits for Kafka's acknowledgement with no transaction open, then deletes their outbox rows.
Each step is a short transaction of its own: a stalled broker delays the topic, never another
write to the control plane. A relay rests ``LINGER`` after each drain, so that a steady trickle
of records is claimed in groups (the first of a quiet spell goes at once), and a claim of fewer
than ``BATCH`` records (the outbox is empty behind it) deletes them and lets the lease go in one
write: a group costs two short writes.

If the relay dies between Kafka's acknowledgement and the delete, the next one sends those
records again: the topic is compacted and keyed by record id, and ``ndxp audit verify --kafka``
compares by id, so a repeat is harmless. A lease runs out after ``LEASE``; a relay stuck longer
than that (a broker stalled past ``PUBLISH_TIMEOUT``) gives way to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit.event import stored_fields
from services.core.db.lease import Lease
from services.core.db.models import AuditOutbox, AuditRecord
from services.core.kafka.producer import Record, send_batch
from services.core.tasks import cancel_requested

log = logging.getLogger(__name__)

LEASE_NAME: Final = "audit"
LEASE: Final = timedelta(seconds=60)
PUBLISH_TIMEOUT: Final = 30.0  # well inside LEASE: a relay never publishes on a lapsed lease
BATCH: Final = 500
POLL_SECONDS: Final = 5.0  # a look at the outbox now and then: another replica's leftovers
# After publishing, wait this long before the next claim: the records of a steady trickle of
# writes are then published a group per claim (two short writes) instead of one each.
LINGER: Final = 0.05
RETRY_MIN: Final = 0.25
RETRY_MAX: Final = 5.0

ProducerFactory = Callable[[], Awaitable[AIOKafkaProducer]]


class LeaseTaken(Exception):
    """Another relay holds the lease; it publishes what is waiting."""


class Relay:
    """The process's publisher of the audit outbox; ``kick`` it after a commit."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], producer: ProducerFactory, topic: str
    ) -> None:
        self.sessions = sessions
        self.producer = producer
        self.topic = topic
        self.lease = Lease(sessions, LEASE_NAME, LEASE)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Publish what is waiting, soon (starts the relay task on first use)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="audit-relay")
        self._wake.set()

    async def close(self, grace: float) -> None:
        """Stop the task, then one last attempt (within ``grace`` seconds) to publish what is
        left; whatever still is stays in the outbox for the next relay."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await asyncio.wait_for(self.drain(), grace)
        except LeaseTaken:  # the holder publishes them
            pass
        except Exception as exc:  # noqa: BLE001 - shutting down: told, and left for the next
            log.warning("audit records left unpublished in the outbox: %s", exc)
        with contextlib.suppress(Exception):
            await self.lease.release()

    async def drain(self) -> int:
        """Publish every outbox record, oldest first; how many. ``LeaseTaken`` if another relay
        is publishing."""
        published = 0
        async with self.sessions() as session:  # a read first: the lease is a write
            if await session.scalar(select(AuditOutbox.seq).limit(1)) is None:
                return published
        while True:
            rows = await self._claim()
            if not rows:
                await self.lease.release()
                return published
            await asyncio.wait_for(self._produce(rows), PUBLISH_TIMEOUT)
            last = len(rows) < BATCH  # the outbox was empty behind these: no claim to find that
            async with self.sessions.begin() as session:
                seqs = [row["seq"] for row in rows]
                await session.execute(delete(AuditOutbox).where(AuditOutbox.seq.in_(seqs)))
                if last:  # in the same write: a record written since kicks the relay again
                    await self.lease.release(session)
            published += len(rows)
            if last:
                return published

    async def _run(self) -> None:
        delay = RETRY_MIN
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self.drain()
            except LeaseTaken:  # the holder publishes ours too; look again in a moment
                pass
            except Exception as exc:
                if cancel_requested():  # a cancel that came as the attempt failed (and was lost)
                    raise asyncio.CancelledError from exc
                log.warning("audit records not yet on %s (retrying): %s", self.topic, exc)
            else:
                delay = RETRY_MIN
                await asyncio.sleep(LINGER)  # the records written meanwhile go in one claim
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            self._wake.set()

    async def _claim(self) -> list[dict[str, Any]]:
        """Take (or renew) the lease and read the oldest outbox records, in one short write."""
        async with self.sessions.begin() as session:
            if not await self.lease.hold(session):
                raise LeaseTaken
            records = await session.scalars(
                select(AuditRecord)
                .join(AuditOutbox, AuditOutbox.seq == AuditRecord.seq)
                .order_by(AuditRecord.seq)
                .limit(BATCH)
            )
            return [stored_fields(record) for record in records]

    async def _produce(self, rows: list[dict[str, Any]]) -> None:
        producer = await self.producer()
        records = [
            Record(row["id"].encode(), json.dumps(topic_value(row), ensure_ascii=False).encode())
            for row in rows
        ]
        await send_batch(producer, self.topic, records)


def topic_value(fields: dict[str, Any]) -> dict[str, Any]:
    """A record as the audit topic carries it (times as ISO-8601 text)."""
    value = dict(fields)
    time = value["time"]
    if isinstance(time, datetime):
        value["time"] = time.astimezone(UTC).isoformat(timespec="microseconds")
    return value
