"""The audit chain checked in the background, so a broken chain is an alert, not a surprise at the
next ``ndxp audit verify``.

Every ``NDXP_GATEWAY_AUDIT_VERIFY_INTERVAL`` seconds the gateway checks the records appended since
the last head it found intact (a page at a time) and moves that head on; the first check after a
start, and every :data:`FULL_EVERY`-th one, walks the whole chain from the genesis, so an edit to a
record checked before is found too. After a problem every check walks the whole chain again, so
it finds the problem again: ``ndxp_audit_chain_intact`` stays 0 until the chain is repaired.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit.check import record_pages
from services.core.audit.metrics import INTACT, VERIFICATION_FAILURES, VERIFIED_AT, VERIFIED_SEQ
from services.core.audit.verify import ChainHead, verify_chain

log = logging.getLogger(__name__)

FULL_EVERY: Final = 12  # every twelfth check walks the whole chain (hourly at the default 300 s)


class ChainWatch:
    """Checks the chain where the last check stopped; :meth:`check` is one look."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.head = ChainHead()
        self.checks = 0

    async def check(self) -> list[str]:
        """Check the chain (see the module docstring); its problems, and the metrics set."""
        start = self.head if self.checks % FULL_EVERY else ChainHead()
        self.checks += 1
        head, problems = start, []
        async for page in record_pages(self.sessions, after=start.seq):
            report = verify_chain(page, start=head)
            if not report.ok:
                problems = report.problems
                break
            head = report.head
        if problems:
            self.head = ChainHead()  # from the genesis again next time: the problem stays found
            VERIFICATION_FAILURES.inc()
            INTACT.set(0)
            log.error("the audit chain is broken after seq %d: %s", head.seq, "; ".join(problems))
            return problems
        self.head = head
        INTACT.set(1)
        VERIFIED_SEQ.set(head.seq)
        VERIFIED_AT.set(time.time())
        return []
