"""Background loops that retry on failure, and a cancel that arrived disguised as one.

``asyncio.wait_for`` (3.11), and a Kafka or database client waiting on a connection, may answer a
cancel that meets an inner failure with the failure: the ``CancelledError`` is gone, only the task
still counts the request. A loop that catches ``Exception`` to retry asks :func:`cancel_requested`
before it goes round again, so that stopping it (``task.cancel()`` then awaiting the task) never
waits forever. :func:`repeating` is such a loop, for work done every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


def cancel_requested() -> bool:
    """Whether the running task has been asked to stop and has not yet."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@contextlib.asynccontextmanager
async def repeating(
    what: str, interval: float, step: Callable[[], Awaitable[object]]
) -> AsyncIterator[None]:
    """Run ``step`` now and then every ``interval`` seconds while the context is open (never with
    an interval of 0 or less); a step that fails is logged and the next one runs on time. The
    background looks of a service (its watch on the cluster, the agreement sweeper, the lag
    collector) all run this way."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(repeat(what, interval, step), name=f"ndxp-{what}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def repeat(what: str, interval: float, step: Callable[[], Awaitable[object]]) -> None:
    """The loop of :func:`repeating`, until cancelled."""
    while True:
        try:
            await step()
        except Exception as exc:  # a step that fails must not end the looking
            if cancel_requested():  # but a cancel that came as it failed (and was lost) does
                raise asyncio.CancelledError from exc
            log.exception("%s failed; again in %.0f s", what, interval)
        await asyncio.sleep(interval)
