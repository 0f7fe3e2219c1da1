"""The agreement sweeper stops when told, even when the cancel arrives as a sweep fails (a
database client may answer a cancel with the failure it was in the middle of)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from services.core.tasks import repeat
from services.gateway.agreements.expiry import sweep
from tests.fixtures.stopping import cancel_and_wait


class RefusingSessions:
    """A control plane whose every session turns a cancel into a connection failure."""

    opened = 0
    refuse = True

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        self.opened += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if self.refuse:
                raise ConnectionResetError(104, "Connection reset by peer") from None
            raise
        yield None


class Backends:
    def __init__(self) -> None:
        self.sessions = RefusingSessions()


async def test_a_cancel_lost_in_a_failed_sweep_still_stops_the_sweeper() -> None:
    backends: Any = Backends()
    none: Any = None
    # the sweeper's loop (agreement_sweeper runs it), as a task the test cancels itself
    task = asyncio.create_task(repeat("sweep", 0.01, lambda: sweep(backends, none)))
    await asyncio.sleep(0.05)
    assert backends.sessions.opened == 1

    def release() -> None:
        backends.sessions.refuse = False

    await cancel_and_wait(task, release)
    assert backends.sessions.opened == 1
