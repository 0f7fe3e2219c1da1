"""The audit relay stops when told, even when the cancel arrives as a publish attempt fails."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core.audit.relay import Relay
from tests.fixtures.stopping import cancel_and_wait


class RefusedOnCancel(Relay):
    """A relay whose attempt turns the cancel into the failure it was in the middle of, as a
    Kafka client connecting to a dead broker may."""

    attempts = 0
    refuse = True

    async def drain(self) -> int:
        self.attempts += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            if self.refuse:
                raise ConnectionRefusedError(111, "Connect call failed") from None
            raise
        return 0

    def release(self) -> None:
        """Let the next cancel through as itself."""
        self.refuse = False


async def test_a_cancel_lost_in_a_failed_attempt_still_stops_the_relay() -> None:
    none: Any = None
    relay = RefusedOnCancel(none, none, "test.audit")
    relay.kick()
    await asyncio.sleep(0.05)
    task = relay._task
    assert task is not None and relay.attempts == 1
    await cancel_and_wait(task, relay.release)
    assert relay.attempts == 1
