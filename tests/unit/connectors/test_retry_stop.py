"""A connector's retries stop when the connector is stopped, even when the stop arrives as the
failure of the attempt in flight: a stop is not a source's fault (no FAILED, no more tries)."""

from __future__ import annotations

import asyncio

from services.connectors.failures import Retry
from tests.fixtures.stopping import Disguise, stops


async def test_a_stop_lost_in_a_failed_attempt_ends_the_retries() -> None:
    disguise = Disguise()
    retry = Retry(attempts=5, backoff=0.01)
    task = asyncio.create_task(retry("poll", disguise.attempt))
    await stops(task, disguise)
