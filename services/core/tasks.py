"""Background loops that retry on failure, and a cancel that arrived disguised as one.

``asyncio.wait_for`` (3.11), and a Kafka or database client waiting on a connection, may answer a
cancel that meets an inner failure with the failure: the ``CancelledError`` is gone, only the task
still counts the request. A loop that catches ``Exception`` to retry asks :func:`cancel_requested`
before it goes round again, so that stopping it (``task.cancel()`` then awaiting the task) never
waits forever.
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
async def every(
    interval: float, step: Callable[[], Awaitable[object]], *, name: str
) -> AsyncIterator[None]:
    """Run ``step`` now and then every ``interval`` seconds while the block is open (never with
    an interval of 0 or less). A step that fails is logged and tried again at the next turn; one
    that fails because the loop is being stopped stops it."""

    async def run() -> None:
        while True:
            try:
                await step()
            except Exception as exc:
                if cancel_requested():
                    raise asyncio.CancelledError from exc
                log.exception("%s failed; trying again in %g s", name, interval)
            await asyncio.sleep(interval)

    if interval <= 0:
        yield
        return
    task = asyncio.create_task(run(), name=name)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
