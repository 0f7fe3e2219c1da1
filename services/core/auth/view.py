"""Identities and revocations in memory: what every request at the door reads instead of the
control plane.

Each process (each gateway, registry and connect worker) holds one :class:`IdentityView`: a
:class:`~services.core.auth.store.Snapshot` of agencies, clients and revoked token ids, tagged
with the control plane's ``auth_version`` counter. Database triggers bump that counter on every
insert, update or delete of those tables, whoever makes it (the admin API, ``ndxp clients``, a
revocation, an operator's SQL). The view's poller reads the counter every ``view_poll_seconds``
(one primary-key read) and reloads the snapshot only when it moved. A request never queries:

- a client the snapshot does not know yet (created since the last reload) is looked up in the
  database once, as before;
- if the poller has not confirmed the snapshot for ``view_max_age_seconds`` (it is stalled, or
  the database is away), the request checks the counter itself, so a revocation or a disabled
  client or agency is refused on every replica within that bound, and an unreachable control
  plane gives 503 as it did before, never a stale yes.

A write made through this process (:meth:`IdentityView.revoke`, or the admin routes calling
:meth:`IdentityView.changed` after theirs) reloads before it answers, so it holds at once
here and within the poll interval elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.store import AuthStore, ClientRecord, Snapshot, TokenStatus
from services.core.errors import Unavailable

log = logging.getLogger(__name__)


class IdentityView(AuthStore):
    """An :class:`AuthStore` whose look-ups are answered from memory, kept current by polling."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 0.25,
        max_age_seconds: float = 0.75,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(sessions)
        self.poll_seconds = poll_seconds
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._checked_at = -float("inf")  # when the counter last matched the snapshot
        self._lock = asyncio.Lock()

    # --- keeping it current ------------------------------------------------------------------

    async def refresh(self) -> Snapshot:
        """Read the counter, and reload the snapshot if it moved; one refresh at a time."""
        started = self._clock()
        async with self._lock:
            if self._snapshot is not None and self._checked_at >= started:
                return self._snapshot  # another caller checked while we waited
            version = await self.read_version()
            if self._snapshot is None or version != self._snapshot.version:
                self._snapshot = await self.snapshot()
                log.debug("identities reloaded at version %d", self._snapshot.version)
            self._checked_at = started
            return self._snapshot

    async def current(self) -> Snapshot:
        """The snapshot, checked against the counter less than ``max_age_seconds`` ago."""
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - self._checked_at <= self.max_age_seconds:
            return snapshot
        try:
            return await self.refresh()
        except (SQLAlchemyError, OSError) as exc:
            raise Unavailable("the control plane is unreachable: cannot check credentials") from exc

    async def poll(self) -> None:
        """Refresh every ``poll_seconds`` until cancelled; a failed check is logged and retried
        (requests then check for themselves once the snapshot is too old)."""
        while True:
            try:
                await self.refresh()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("checking the identities' version failed: %s", exc)
            await asyncio.sleep(self.poll_seconds)

    @contextlib.asynccontextmanager
    async def polling(self) -> AsyncIterator[IdentityView]:
        """Load the first snapshot, then poll in the background while the context is open."""
        await self.refresh()
        task = asyncio.create_task(self.poll(), name="identity-view-poll")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- answering from memory ---------------------------------------------------------------

    async def client(self, client_id: str) -> ClientRecord | None:
        record = (await self.current()).clients.get(client_id)
        if record is None:  # created since the last reload, or unknown
            return await super().client(client_id)
        return record

    async def token_status(self, jti: str | None, client_id: str) -> TokenStatus:
        snapshot = await self.current()
        record = snapshot.clients.get(client_id)
        if record is None:
            return await super().token_status(jti, client_id)
        revoked = jti is not None and jti in snapshot.revoked
        return TokenStatus(True, revoked, record.enabled, record.agency_enabled)

    async def external_token_status(self, jti: str | None, agency_id: str) -> TokenStatus:
        snapshot = await self.current()
        enabled = snapshot.agencies.get(agency_id)
        if enabled is None:
            return await super().external_token_status(jti, agency_id)
        revoked = jti is not None and jti in snapshot.revoked
        return TokenStatus(True, revoked, client_enabled=True, agency_enabled=enabled)

    async def changed(self) -> None:
        await self.refresh()

    async def revoke(self, jti: str, client_id: str, expires_at: datetime) -> None:
        """Record the revocation, then reload: refused here before the response is sent."""
        await super().revoke(jti, client_id, expires_at)
        await self.changed()
