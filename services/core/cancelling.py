"""Telling a cancel apart from the failure it arrived as.

``asyncio.wait_for`` (3.11) answers a cancel that meets an inner failure with the failure, and a
Kafka or database client may turn a cancel into an error of its own. A background loop that
retries on failures would then keep running after it was told to stop, and whoever awaits it on
shutdown waits forever. The request still shows in the task's count of cancel requests: a loop
asks :func:`cancelling` before it retries.
"""

from __future__ import annotations

import asyncio


def cancelling() -> bool:
    """Whether the current task has been asked to stop (and has not taken the request back)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
