"""A publish's audit record written while Kafka commits its transaction, not after.

A 201 means two things are durable: the batch, committed in Kafka, and its ``publish`` audit
record, in the control plane. Written one after the other, a small publish pays both in turn.
:class:`OverlappedAudit` starts the record as soon as Kafka has acknowledged every record of the
batch (the offsets known, the commit about to be sent, from the transaction's ``before_commit``
step) and the answer waits for both. If the commit then fails, or the batch is tried again in
another transaction (a group commit that one of its batches refused), the record started for
the placements that were not committed is annulled by a ``publish.abort`` record naming it: the
trail is append-only, so it states what happened, in order. A record started for placements that
were committed stands; committed placements without one (never, but cheap to be sure of) are
recorded then.

An audit record that cannot be written is logged, never raised, as for every publish: the batch
is in Kafka either way.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable

from services.core.audit import AuditEvent, AuditTrail
from services.core.events.transactions import Placed

log = logging.getLogger(__name__)

ABORT = "publish.abort"


class OverlappedAudit:
    """The ``publish`` record of one batch, started at :meth:`acknowledged` and settled by
    :meth:`settle` once the transaction's outcome is known. Made in the request's task: the
    record is written in its context (its request id), whichever task acknowledges."""

    def __init__(self, audit: AuditTrail, event: Callable[[Placed], AuditEvent]) -> None:
        self.audit = audit
        self.event = event
        self._context = contextvars.copy_context()
        self._started: list[tuple[Placed, asyncio.Task[str | None]]] = []

    def acknowledged(self, placed: Placed) -> None:
        """Kafka acknowledged the batch at ``placed``: start its record now."""
        event = self.event(placed)
        task = asyncio.create_task(self._record(event), context=self._context)
        self._started.append((placed, task))

    async def settle(self, committed: Placed | None, failure: BaseException | None = None) -> None:
        """The transaction's outcome: the placements committed, or None (``failure`` says why).
        Waits for the records started; annuls those of placements not committed."""
        standing = False
        for placed, task in self._started:
            record_id = await task
            if committed is not None and not standing and placed == committed:
                standing = True
            elif record_id is not None:
                reason = "the batch was written again in another transaction"
                if committed is None:
                    reason = f"the transaction did not commit: {failure!r}"
                details = {"annuls": record_id, "reason": reason}
                event = self.event(placed)
                await self._record(AuditEvent(ABORT, event.actor_agency, event.actor_client,
                                              dataset=event.dataset, provider=event.provider,
                                              details=details))  # fmt: skip
        if committed and not standing:
            await self._record(self.event(committed))

    async def _record(self, event: AuditEvent) -> str | None:
        try:
            return await self.audit.record(event)
        except Exception:  # the batch is committed (or not) whatever the trail says
            log.exception("%s of %d records to %s is not in the audit trail", event.action,
                          event.records, event.dataset)  # fmt: skip
            return None
