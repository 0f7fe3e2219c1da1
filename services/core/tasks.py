"""Background loops that retry on failure, and a cancel that arrived disguised as one.

``asyncio.wait_for`` (3.11), and a Kafka or database client waiting on a connection, may answer a
cancel that meets an inner failure with the failure: the ``CancelledError`` is gone, only the task
still counts the request. A loop that catches ``Exception`` to retry asks :func:`cancel_requested`
before it goes round again, so that stopping it (``task.cancel()`` then awaiting the task) never
waits forever.
"""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """Whether the running task has been asked to stop and has not yet."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
