"""Writing down what time decided: agreements past ``valid_until`` become ``expired``.

Reads never wait for this (:func:`~services.core.sharing.agreements.effective_state` already says
``expired``), and delivery stops on time by the same rule; the sweep makes the stored state, the
audit trail (one ``agreement.expire`` per agreement, by the replica whose conditional UPDATE moved
it) and ``ndxp_agreements`` agree with it. It runs every :data:`SWEEP_SECONDS` in each gateway
replica, and lazily before agreements are read.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select, update

from services.core.audit import AuditLog
from services.core.db.engine import SQLITE_BEGIN
from services.core.db.models import Agreement
from services.core.sharing.agreements import due_clause, expire_due, state_before_expiry
from services.core.tasks import repeating
from services.gateway.agreements.audit import agreement_event, record, refresh_metrics
from services.gateway.backends import Backends

log = logging.getLogger(__name__)

SWEEP_SECONDS: Final = 5.0


async def sweep(
    backends: Backends, audit: AuditLog, now: datetime | None = None
) -> list[Agreement]:
    """Expire what is due at ``now`` and audit each; the agreements this call expired."""
    now = now or datetime.now(UTC)
    async with backends.sessions() as session:  # a cheap read first: usually nothing is due
        due = await session.scalar(select(Agreement.id).where(due_clause(now)).limit(1))
    if due is None:
        return []
    async with backends.sessions.begin() as session:
        await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        expired = await expire_due(session, now)
    failed: Exception | None = None
    done = []
    for agreement in expired:
        before = state_before_expiry(agreement)
        details = {"from": before, "valid_until": agreement.valid_until.isoformat()}
        event = agreement_event("agreement.expire", None, agreement, details)
        try:  # each one audited, or taken back for the next sweep
            await record(
                backends, audit, event, functools.partial(_unexpire, backends, agreement, before)
            )
        except Exception as exc:  # noqa: BLE001 - raised below, after the others are tried
            failed = failed or exc
            continue
        done.append(agreement)
        log.info("agreement %s expired (valid until %s)", agreement.id, agreement.valid_until)
    if failed is not None:
        raise failed
    return done


async def _unexpire(backends: Backends, agreement: Agreement, state: str) -> None:
    """Take an unaudited expiry back: the next sweep expires (and audits) it again."""
    async with backends.sessions.begin() as session:
        await session.execute(
            update(Agreement)
            .where(Agreement.id == agreement.id, Agreement.state == "expired")
            .values(state=state)
            .execution_options(synchronize_session=False)
        )


async def sweep_quietly(backends: Backends, audit: AuditLog, now: datetime | None = None) -> None:
    """:func:`sweep` before a read: a failure (the audit trail down) is logged, the read goes on
    (what it shows is computed at read time anyway)."""
    try:
        await sweep(backends, audit, now)
    except Exception:
        log.warning("agreement expiry sweep failed; the next one retries", exc_info=True)


@asynccontextmanager
async def agreement_sweeper(
    backends: Backends, audit: AuditLog, interval: float = SWEEP_SECONDS
) -> AsyncIterator[None]:
    """Sweep and recount every ``interval`` seconds for the gateway's lifetime."""

    async def run() -> None:
        await sweep(backends, audit)
        await refresh_metrics(backends)

    async with repeating("agreement expiry sweep", interval, run):
        yield
