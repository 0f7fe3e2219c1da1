"""When a part that exited is started again: exponential back-off, and a limit.

A part that exits is restarted after ``backoff_initial`` seconds, the delay doubling with each
exit that follows a short life, up to ``backoff_max``; a part that had run ``stable_after``
seconds starts again from the first delay. More than ``restart_limit`` restarts within
``restart_window`` seconds means restarting does not help: the supervisor gives up.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from services.core.config import UpSettings

_MAX_DOUBLINGS = 32  # far past any backoff_max; keeps 2**n a small number


@dataclass(frozen=True)
class Restart:
    """Start the part again after ``delay`` seconds; it is restart ``number`` in the window."""

    delay: float
    number: int


@dataclass
class RestartPolicy:
    """One part's restart history; :meth:`after_exit` decides on each exit."""

    settings: UpSettings
    _times: collections.deque[float] = field(default_factory=collections.deque)
    _streak: int = 0

    def after_exit(self, now: float, uptime: float) -> Restart | None:
        """The restart after an exit at ``now`` (monotonic seconds) of a part that had run
        ``uptime`` seconds; None when the limit is reached."""
        if uptime >= self.settings.stable_after:
            self._streak = 0
        while self._times and now - self._times[0] > self.settings.restart_window:
            self._times.popleft()
        if len(self._times) >= self.settings.restart_limit:
            return None
        delay = min(self.settings.backoff_initial * 2**self._streak, self.settings.backoff_max)
        self._streak = min(self._streak + 1, _MAX_DOUBLINGS)
        self._times.append(now)
        return Restart(delay, len(self._times))
