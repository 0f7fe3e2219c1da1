"""Every agreement change on the record: its audit event, and ``ndxp_agreements{state}``.

A change is committed first and audited second (the audit trail writes in its own transaction,
which on SQLite could not run inside ours). If the trail refuses the record, the change is taken
back, so that no change is left unaudited, and the caller sees the trail's error (503).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.core.audit import AuditEvent, AuditLog
from services.core.auth.principal import Principal
from services.core.db.models import Agreement
from services.core.sharing.agreements import count_agreements
from services.gateway.backends import Backends

log = logging.getLogger(__name__)


def agreement_event(
    action: str, principal: Principal | None, agreement: Agreement, details: dict[str, Any]
) -> AuditEvent:
    """The audit event of a change to ``agreement``; no principal: the hub itself (expiry)."""
    return AuditEvent(
        action,
        principal.agency if principal else None,
        principal.client_id if principal else None,
        dataset=agreement.dataset_id,
        agreement=agreement.id,
        provider=agreement.provider_agency,
        consumer=agreement.consumer_agency,
        details=details,
    )


async def record(
    backends: Backends, audit: AuditLog, event: AuditEvent, undo: Callable[[], Awaitable[None]]
) -> None:
    """Audit a committed change, then recount; if the trail refuses, undo the change and raise."""
    try:
        await audit.record(event)
    except Exception:
        try:
            await undo()
        except Exception:
            log.exception("could not undo %s of %s after the audit failed", event.action, event)
        raise
    finally:
        await refresh_metrics(backends)


async def refresh_metrics(backends: Backends) -> dict[str, int]:
    """Recount ``ndxp_agreements{state}`` from the control plane."""
    async with backends.sessions() as session:
        return await count_agreements(session)
