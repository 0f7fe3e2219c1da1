"""Leases: work that one replica at a time should do, whichever it is.

A lease is a row of ``audit_relay`` (made for the audit relay's lease, the first; it holds every
lease): its ``name``, its ``holder`` (an id each :class:`Lease` makes for itself) and ``until``,
when it lapses. Taking or renewing a lease is one conditional UPDATE (holder is this one, or the
lease has lapsed), the same on every database; the row of a lease nobody took yet is inserted
by the first taker (the audit relay's was written by its migration). A holder that stops renews
no more, and another takes over once ``until`` passes; one that stops cleanly releases it.

Users: the audit relay (:mod:`services.core.audit.relay`), which takes it in the transaction that
claims outbox records, and the lag collector (:mod:`services.core.sharing.lag`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.models import AuditRelay


class Lease:
    """One process's hold on the lease ``name``, for ``duration`` after each renewal."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], name: str, duration: timedelta
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.duration = duration
        self.holder = uuid.uuid4().hex

    async def hold(self, session: AsyncSession) -> bool:
        """Take or renew the lease in ``session``'s transaction; False if another holds it (or
        its row does not exist)."""
        now = datetime.now(UTC)
        taken = await session.execute(
            update(AuditRelay)
            .where(
                AuditRelay.name == self.name,
                or_(AuditRelay.holder == self.holder, AuditRelay.until < now),
            )
            .values(holder=self.holder, until=now + self.duration)
            .execution_options(synchronize_session=False)
        )
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    async def take(self) -> bool:
        """Take or renew the lease in a transaction of its own, making its row if there is none;
        False if another holds it."""
        async with self.sessions.begin() as session:
            if await self.hold(session):
                return True
            if await session.scalar(select(AuditRelay.name).where(AuditRelay.name == self.name)):
                return False
        try:
            async with self.sessions.begin() as session:
                until = datetime.now(UTC) + self.duration
                session.add(AuditRelay(name=self.name, holder=self.holder, until=until))
        except IntegrityError:  # another made it first: it holds the lease
            return False
        return True

    async def release(self, session: AsyncSession | None = None) -> None:
        """Let the lease lapse now, if this one holds it (another may take it at once): in
        ``session``'s transaction, or in one of its own."""
        if session is None:
            async with self.sessions.begin() as own:
                await self.release(own)
            return
        await session.execute(
            update(AuditRelay)
            .where(AuditRelay.name == self.name, AuditRelay.holder == self.holder)
            .values(until=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
