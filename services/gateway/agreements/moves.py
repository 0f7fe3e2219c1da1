"""How an agreement moves from state to state, and who may move it.

Each move reads the agreement, checks the caller and the move (:data:`TRANSITIONS`, from its
state at ``now``) and writes it with one conditional ``UPDATE ... WHERE state = <from>`` in one
transaction (which on SQLite takes the write lock at its start): of two racing decisions exactly
one wins, the other gets 409 ``invalid_transition``. A committed move can be taken back
(:meth:`Change.undo`) while nothing has moved the agreement since, for when it cannot be audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.auth.principal import AGREEMENTS_MANAGE, SUBSCRIBE, Principal
from services.core.db.engine import SQLITE_BEGIN
from services.core.db.models import Agreement
from services.core.errors import Forbidden
from services.core.sharing.agreements import effective_state
from services.gateway.agreements.terms import AgreementNotFound, InvalidTransition

# Where each state may go by a decision (time expires requested and active: agreement_expiry).
TRANSITIONS = {"requested": frozenset({"active", "rejected"}), "active": frozenset({"revoked"})}

Check = Callable[[Agreement], None]


async def visible_agreement(
    session: AsyncSession, principal: Principal, agreement_id: str
) -> Agreement:
    """The agreement if the caller's agency is a party to it (or the caller an admin), else 404."""
    agreement = await session.get(Agreement, agreement_id, populate_existing=True)
    if agreement is None or not (
        principal.is_admin
        or principal.agency in (agreement.provider_agency, agreement.consumer_agency)
    ):
        raise AgreementNotFound(f"agreement {agreement_id} not found")
    return agreement


def provider_check(principal: Principal) -> Check:
    """Approving and rejecting: the provider agency, with ``agreements:manage``."""

    def check(agreement: Agreement) -> None:
        if principal.agency != agreement.provider_agency:
            raise Forbidden(
                f"only the provider agency {agreement.provider_agency!r} decides on agreement "
                f"{agreement.id}"
            )
        principal.require_any(AGREEMENTS_MANAGE)

    return check


def revoker_check(principal: Principal) -> Check:
    """Revoking: the provider (``agreements:manage``) or the consumer withdrawing (``subscribe``
    or ``agreements:manage``)."""

    def check(agreement: Agreement) -> None:
        if principal.agency == agreement.provider_agency:
            principal.require_any(AGREEMENTS_MANAGE)
        elif principal.agency == agreement.consumer_agency:
            principal.require_any(SUBSCRIBE, AGREEMENTS_MANAGE)
        else:
            raise Forbidden(f"agreement {agreement.id} is not agency {principal.agency!r}'s")

    return check


def check_move(agreement: Agreement, target: str, now: datetime) -> None:
    state = effective_state(agreement, now)
    if target not in TRANSITIONS.get(state, frozenset()):
        raise InvalidTransition(f"agreement {agreement.id} is {state}; it cannot become {target}")


@dataclass(frozen=True)
class Change:
    """A committed move, and how to take it back while nothing has moved the agreement since."""

    after: Agreement
    before: dict[str, Any]
    marker: str
    sessions: async_sessionmaker[AsyncSession]

    async def undo(self) -> None:
        after = self.after
        async with self.sessions.begin() as session:
            await session.execute(
                update(Agreement)
                .where(
                    Agreement.id == after.id,
                    Agreement.state == after.state,
                    getattr(Agreement, self.marker) == getattr(after, self.marker),
                )
                .values(**self.before)
                .execution_options(synchronize_session=False)
            )


async def move(
    sessions: async_sessionmaker[AsyncSession],
    agreement_id: str,
    target: str,
    *,
    values: dict[str, Any],
    now: datetime,
    check: Check,
    marker: str,
) -> Change:
    """Move the agreement to ``target`` if it may go there from its state at ``now``; the
    conditional UPDATE makes the last check and the write one step."""
    async with sessions.begin() as session:
        await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        agreement = await session.get(Agreement, agreement_id, populate_existing=True)
        if agreement is None:
            raise AgreementNotFound(f"agreement {agreement_id} not found")
        check(agreement)
        check_move(agreement, target, now)
        source = agreement.state
        before = {"state": source} | {column: getattr(agreement, column) for column in values}
        result = await session.execute(
            update(Agreement)
            .where(
                Agreement.id == agreement_id,
                Agreement.state == source,
                Agreement.valid_until > now,
            )
            .values(state=target, **values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise InvalidTransition(f"agreement {agreement_id} changed meanwhile; read it again")
        after = await session.get(Agreement, agreement_id, populate_existing=True)
        assert after is not None  # noqa: S101 - updated just now, in this transaction
    return Change(after, before, marker, sessions)
