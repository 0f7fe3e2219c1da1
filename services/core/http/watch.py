"""A service's background look at its dependencies, so its metrics stay true between requests.

Every ``NDXP_KAFKA_WATCH_INTERVAL`` seconds: the cluster as a client sees it
(:class:`~services.core.kafka.watch.ClusterWatch`), then the readiness checks, which set
``ndxp_ready`` as /readyz does. Nobody has to call /readyz for an operator to see a broker go.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from services.core.http.health import ReadinessCheck, readiness
from services.core.http.state import CoreState
from services.core.kafka.watch import ClusterWatch
from services.core.tasks import repeating


@contextlib.asynccontextmanager
async def watching(core: CoreState, checks: dict[str, ReadinessCheck]) -> AsyncIterator[None]:
    """Look in the background while the context is open (not at all with an interval of 0)."""
    interval = core.settings.kafka.watch_interval
    watch = ClusterWatch(core.settings.kafka, core.kafka_bootstrap, core.service)

    async def look() -> None:
        await watch.observe()
        await readiness(core, checks)

    try:
        async with repeating("the look at the service's dependencies", interval, look):
            yield
    finally:
        await watch.close()
