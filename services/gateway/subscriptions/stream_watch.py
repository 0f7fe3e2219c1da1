"""Whether a replica's open streams may go on, read from the control plane for all of them at once.

A stream must end when its subscription is deleted or its agreement stops being active. Asked by
each stream every second, that was a database session per stream per second: with a few hundred
streams the replica's CPU went to those reads alone. Instead, while any stream is open, one task
reads every watched subscription and agreement in a couple of queries every half second, and each
stream looks at the verdict about its own (no I/O) on every turn of its loop. A failed read is
logged and the last verdicts stand: a control plane briefly out of reach ends no stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.models import Agreement, Subscription
from services.core.errors import NdxpError
from services.core.sharing.agreements import check_active
from services.core.tasks import cancel_requested

log = logging.getLogger(__name__)

WATCH_SECONDS: Final = 0.5
CHUNK: Final = 500  # ids per IN (...): under every database's bound on parameters


class Watched(NamedTuple):
    subscription: str
    agreement: str
    agency: str  # the consumer agency, whose agreement it must be


@dataclass(frozen=True)
class Verdict:
    """The agreement as last read, or why the stream must end."""

    agreement: Agreement | None = None
    reason: str = ""
    detail: str = ""


class StreamWatch:
    """The verdicts on every watched subscription, refreshed while there is any."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], every: float = WATCH_SECONDS
    ) -> None:
        self.sessions, self.every = sessions, every
        self._watched: Counter[Watched] = Counter()
        self._verdicts: dict[Watched, Verdict] = {}
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def watching(self, key: Watched) -> Iterator[None]:
        """Keep ``key``'s verdict fresh for the block."""
        self._watched[key] += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="ndxp-stream-watch")
        try:
            yield
        finally:
            self._watched[key] -= 1
            if self._watched[key] <= 0:
                del self._watched[key]
                self._verdicts.pop(key, None)

    def verdict(self, key: Watched) -> Verdict | None:
        """The last verdict on ``key`` (``None``: not read yet, the stream's opening checks
        stand)."""
        return self._verdicts.get(key)

    async def _run(self) -> None:
        while self._watched:
            try:
                await self.refresh()
            except Exception as exc:  # the last verdicts stand; said in the log
                if cancel_requested():  # a cancel that came as the read failed (and was lost)
                    raise asyncio.CancelledError from exc
                log.warning("checking open streams against the control plane failed: %s", exc)
            await asyncio.sleep(self.every)

    async def refresh(self) -> None:
        """One read of every watched subscription and agreement; the verdicts from it."""
        keys = list(self._watched)
        now = datetime.now(UTC)
        async with self.sessions() as session:
            present = await _existing(session, sorted({key.subscription for key in keys}))
            agreements = await _agreements(session, sorted({key.agreement for key in keys}))
        for key in keys:
            self._verdicts[key] = _judge(key, present, agreements, now)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _judge(
    key: Watched, present: set[str], agreements: dict[str, Agreement], now: datetime
) -> Verdict:
    if key.subscription not in present:
        return Verdict(reason="subscription_deleted", detail="the subscription was deleted")
    try:
        agreement = check_active(agreements.get(key.agreement), key.agreement, key.agency, now)
    except NdxpError as exc:
        return Verdict(reason=exc.code, detail=exc.message)
    return Verdict(agreement)


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


async def _existing(session: AsyncSession, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids):
        found.update(
            await session.scalars(select(Subscription.id).where(Subscription.id.in_(chunk)))
        )
    return found


async def _agreements(session: AsyncSession, ids: Sequence[str]) -> dict[str, Agreement]:
    found: dict[str, Agreement] = {}
    for chunk in _chunks(ids):
        query = (
            select(Agreement)
            .where(Agreement.id.in_(chunk))
            .execution_options(populate_existing=True)
        )
        found.update((row.id, row) for row in await session.scalars(query))
    return found
