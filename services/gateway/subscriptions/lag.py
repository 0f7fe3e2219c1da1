"""Every subscription's lag, measured in the background by the gateway holding the lease.

The subscriptions are the rows of the control plane: a pull one (read by pulls and streams) in
its group ``ndxp.sub.<id>``, a push one in its connector's group; both are measured by core's
collector (:mod:`services.core.sharing.lag`) into ``ndxp_subscription_lag_records`` with
``kind`` ``pull`` or ``push``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from services.core.db.models import Dataset, Subscription
from services.core.sharing.lag import LagCollector, Lagging, lag_collector
from services.core.sharing.metrics import SUBSCRIPTION_LAG
from services.gateway.backends import Backends
from services.gateway.subscriptions.lifecycle import lag_labels, topic_of


async def subscriptions(backends: Backends) -> list[Lagging]:
    """Every subscription, as the collector measures it."""
    async with backends.sessions() as session:
        rows = await session.execute(
            select(Subscription, Dataset).join(Dataset, Dataset.id == Subscription.dataset_id)
        )
        return [
            Lagging(lag_labels(found), found.group_id, topic_of(dataset)) for found, dataset in rows
        ]


@asynccontextmanager
async def subscription_lag(backends: Backends) -> AsyncIterator[LagCollector]:
    """The collector of the gateway's lifetime."""
    async with lag_collector(
        "subscriptions",
        SUBSCRIPTION_LAG,
        lambda: subscriptions(backends),
        sessions=backends.sessions,
        kafka=backends.kafka,
        bootstrap=backends.bootstrap,
    ) as collector:
        yield collector
