"""The supervisor: watches the hub's parts, restarts the one that exits, stops them all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from services.core.config import UpSettings
from services.hub.parts import Part, describe_exit
from services.hub.restarts import Restart, RestartPolicy

log = logging.getLogger("ndxp.up")

POLL_SECONDS = 0.2


@dataclass(eq=False)
class _Watch:
    part: Part
    policy: RestartPolicy
    started_at: float
    restarting: asyncio.Task[None] | None = None


class Supervisor:
    """Starts parts in groups, restarts one that exits (with back-off, within a limit) while the
    others keep serving, and stops the groups in reverse order, each group's parts together."""

    def __init__(self, settings: UpSettings) -> None:
        self.settings = settings
        self._groups: list[list[_Watch]] = []
        self._failed = asyncio.Event()
        self.failure: str | None = None

    async def start(self, *parts: Part) -> None:
        """Start ``parts`` (an exception if one cannot start) and watch them from now on."""
        group: list[_Watch] = []
        self._groups.append(group)
        for part in parts:
            await part.start()
            group.append(_Watch(part, RestartPolicy(self.settings), time.monotonic()))

    def fail(self, reason: str) -> None:
        """End :meth:`supervise` with ``reason`` (the first one given wins)."""
        if self.failure is None:
            self.failure = reason
            self._failed.set()

    async def supervise(self) -> str:
        """Watch until a part has exited more often than the limit allows, or :meth:`fail` was
        called; the reason."""
        while not self._failed.is_set():
            for watch in (watch for group in self._groups for watch in group):
                if watch.restarting is None and (code := watch.part.exit_code()) is not None:
                    self._exited(watch, describe_exit(code))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._failed.wait(), POLL_SECONDS)
        assert self.failure is not None  # noqa: S101 - set with the event
        return self.failure

    def _exited(self, watch: _Watch, how: str) -> None:
        now = time.monotonic()
        uptime = now - watch.started_at
        restart = watch.policy.after_exit(now, uptime)
        name, limits = watch.part.name, self.settings
        if restart is None:
            restarts = "restart" if limits.restart_limit == 1 else "restarts"
            self.fail(
                f"{name} exited ({how}) after {limits.restart_limit} {restarts} within "
                f"{limits.restart_window:g} s; giving up and stopping the hub "
                "(NDXP_UP_RESTART_LIMIT, NDXP_UP_RESTART_WINDOW)"
            )
            return
        log.warning(
            "%s exited (%s) after %.1f s; restart %d (of at most %d within %g s) in %.1f s",
            name, how, uptime, restart.number, limits.restart_limit, limits.restart_window,
            restart.delay,
        )  # fmt: skip
        watch.restarting = asyncio.create_task(self._restart(watch, restart), name=f"up-{name}")

    async def _restart(self, watch: _Watch, restart: Restart) -> None:
        await asyncio.sleep(restart.delay)
        log.info("restarting %s (restart %d)", watch.part.name, restart.number)
        watch.started_at = time.monotonic()
        try:
            await watch.part.start()
        except Exception as exc:  # noqa: BLE001 - any failure to start counts as one more exit
            watch.restarting = None
            self._exited(watch, f"did not start: {exc}")
            return
        watch.restarting = None

    async def stop(self) -> None:
        """Stop every part: the last group started first, each group's parts together."""
        for group in self._groups:
            for watch in group:
                if watch.restarting is not None:
                    watch.restarting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watch.restarting
        timeout = self.settings.stop_timeout
        for group in reversed(self._groups):
            await asyncio.gather(*(watch.part.stop(timeout) for watch in group))
