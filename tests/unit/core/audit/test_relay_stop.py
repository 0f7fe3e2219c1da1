"""The audit relay stops when told, even when the cancel arrives as a publish attempt fails."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core.audit.relay import Relay


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


async def test_a_cancel_lost_in_a_failed_attempt_still_stops_the_relay() -> None:
    none: Any = None
    relay = RefusedOnCancel(none, none, "test.audit")
    relay.kick()
    await asyncio.sleep(0.05)
    task = relay._task
    assert task is not None and relay.attempts == 1
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=3)
    if task not in done:  # let it go, so that the test fails rather than hangs
        relay.refuse = False
        task.cancel()
        await asyncio.wait({task}, timeout=3)
    assert task in done, "the relay kept retrying after it was cancelled"
    assert task.cancelled()
    assert relay.attempts == 1
