"""Whether this process has been told to stop.

``ndxp <service>`` serves with :class:`DrainingServer`, whose signal handling sets the flag before
uvicorn's graceful shutdown begins. That shutdown waits for every open response to end, so a
response that would never end by itself — an SSE stream — checks :func:`draining` and ends
itself; whatever is still open after ``NDXP_SHUTDOWN_GRACE`` seconds (a long poll) is cancelled.
"""

from __future__ import annotations

import threading
from types import FrameType

import uvicorn

_DRAINING = threading.Event()  # set from a signal handler: a flag read by polling, no waiters


def draining() -> bool:
    """True once the process received SIGTERM or SIGINT."""
    return _DRAINING.is_set()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, raising :func:`draining` as it begins to shut down."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        _DRAINING.set()
        super().handle_exit(sig, frame)
