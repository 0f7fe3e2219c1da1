"""A service's background look at its dependencies, so its metrics stay true between requests.

Every ``NDXP_KAFKA_WATCH_INTERVAL`` seconds: the cluster as a client sees it
(:class:`~services.core.kafka.watch.ClusterWatch`), then the readiness checks, which set
``ndxp_ready`` as /readyz does. Nobody has to call /readyz for an operator to see a broker go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from services.core.http.health import ReadinessCheck, readiness
from services.core.http.state import CoreState
from services.core.kafka.watch import ClusterWatch
from services.core.tasks import cancel_requested

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def watching(core: CoreState, checks: dict[str, ReadinessCheck]) -> AsyncIterator[None]:
    """Look in the background while the context is open (not at all with an interval of 0)."""
    interval = core.settings.kafka.watch_interval
    if interval <= 0:
        yield
        return
    watch = ClusterWatch(core.settings.kafka, core.kafka_bootstrap, core.service)
    task = asyncio.create_task(_look_every(interval, watch, core, checks), name="ndxp-watch")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await watch.close()


async def _look_every(
    interval: float, watch: ClusterWatch, core: CoreState, checks: dict[str, ReadinessCheck]
) -> None:
    while True:
        try:
            await watch.observe()
            await readiness(core, checks)
        except Exception as exc:  # a look that fails must not end the looking
            if cancel_requested():  # but a cancel that came as it failed (and was lost) does
                raise asyncio.CancelledError from exc
            log.exception("the background look at the service's dependencies failed")
        await asyncio.sleep(interval)
