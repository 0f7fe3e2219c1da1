"""Whether an agreement lets its consumer receive anything now: the one rule every delivery path
(pull, stream, webhook) and the catalogue use, and the persistence of expiry.

An agreement is *active* when its row says ``active`` and ``valid_until`` is still ahead: time
alone ends it, before any sweep has written ``expired`` (:func:`effective_state`). A request whose
end date passes undecided expires too (nothing could ever be delivered under it). The sweep
(:func:`expire_due`) writes what time decided, one conditional ``UPDATE`` per agreement, so of
several replicas sweeping at once exactly one moves each agreement (and audits it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db.models import AGREEMENT_STATES, Agreement
from services.core.errors import Forbidden
from services.core.sharing.metrics import AGREEMENTS

__all__ = [
    "AgreementInactive",
    "active_agreement",
    "active_clause",
    "check_active",
    "count_agreements",
    "due_clause",
    "effective_state",
    "expire_due",
    "granted_dataset_ids",
    "state_before_expiry",
    "state_clause",
]

# States that time ends: an undecided request and an active agreement.
_TIMED: Final = ("requested", "active")


class AgreementInactive(Forbidden):
    """Nothing may be delivered: the agreement is not active (or expired), or not the caller's."""

    code = "agreement_inactive"
    title = "Agreement not active"


def effective_state(agreement: Agreement, now: datetime) -> str:
    """The agreement's state at ``now``: its row's, or ``expired`` once ``valid_until`` is past."""
    if agreement.state in _TIMED and agreement.valid_until <= now:
        return "expired"
    return agreement.state


def active_clause(now: datetime) -> ColumnElement[bool]:
    """SQL for "active at ``now``", the same rule as :func:`effective_state`."""
    return state_clause("active", now)


def state_clause(state: str, now: datetime) -> ColumnElement[bool]:
    """SQL for "``effective_state`` at ``now`` is ``state``"."""
    if state == "expired":
        return or_(Agreement.state == "expired", due_clause(now))
    if state in _TIMED:
        return and_(Agreement.state == state, Agreement.valid_until > now)
    return Agreement.state == state


def due_clause(now: datetime) -> ColumnElement[bool]:
    """Stored as requested or active, but time has ended it."""
    return and_(Agreement.state.in_(_TIMED), Agreement.valid_until <= now)


def state_before_expiry(agreement: Agreement) -> str:
    """What an expired agreement was: active if it had been decided (approved), else requested."""
    return "active" if agreement.decided_at is not None else "requested"


async def active_agreement(
    session: AsyncSession, agreement_id: str, consumer_agency: str, now: datetime
) -> Agreement:
    """The agreement if ``consumer_agency`` may receive data under it at ``now``; otherwise 403
    ``agreement_inactive`` (also for an unknown id or another agency's agreement, so that a
    delivery path says the same thing whatever the reason)."""
    agreement = await session.get(Agreement, agreement_id, populate_existing=True)
    return check_active(agreement, agreement_id, consumer_agency, now)


def check_active(
    agreement: Agreement | None, agreement_id: str, consumer_agency: str, now: datetime
) -> Agreement:
    """:func:`active_agreement` on a row already read (``None``: there is none)."""
    if agreement is None or agreement.consumer_agency != consumer_agency:
        raise AgreementInactive(f"agreement {agreement_id} is not active for {consumer_agency!r}")
    state = effective_state(agreement, now)
    if state != "active":
        raise AgreementInactive(f"agreement {agreement_id} is {state}")
    return agreement


async def granted_dataset_ids(session: AsyncSession, agency: str, now: datetime) -> frozenset[str]:
    """The datasets ``agency`` holds an agreement active at ``now`` for."""
    rows = await session.scalars(
        select(Agreement.dataset_id).where(Agreement.consumer_agency == agency, active_clause(now))
    )
    return frozenset(rows)


async def expire_due(session: AsyncSession, now: datetime) -> list[Agreement]:
    """Write ``expired`` on every agreement time has ended by ``now``; return those this call
    moved (not those another replica moved first). The caller commits, then audits them."""
    due = await session.scalars(select(Agreement.id).where(due_clause(now)))
    moved = []
    for agreement_id in list(due):
        result = await session.execute(
            update(Agreement)
            .where(Agreement.id == agreement_id, due_clause(now))
            .values(state="expired")
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            moved.append(agreement_id)
    if not moved:
        return []
    return list(
        await session.scalars(
            select(Agreement)
            .where(Agreement.id.in_(moved))
            .order_by(Agreement.valid_until, Agreement.id)
            .execution_options(populate_existing=True)
        )
    )


async def count_agreements(session: AsyncSession) -> dict[str, int]:
    """Agreements by stored state (every state present, zero included); sets ``ndxp_agreements``."""
    rows = await session.execute(select(Agreement.state, func.count()).group_by(Agreement.state))
    counts = dict.fromkeys(AGREEMENT_STATES, 0) | dict(rows.all())
    for state, count in counts.items():
        AGREEMENTS.labels(state).set(count)
    return counts
