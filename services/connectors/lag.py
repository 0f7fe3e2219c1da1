"""Every sink connector's lag, measured in the background by the connect worker holding the lease.

The sinks are the connectors of the configs topic (every worker follows it, so any can measure
them all): each in its group ``ndxp-connect-<name>`` on its dataset's topic, measured by core's
collector (:mod:`services.core.sharing.lag`) into ``ndxp_connector_sink_lag_records``. A push
subscription's connector is one of them (its subscription's lag is the gateway's series too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from services.connectors.configs import ConnectorConfig, parse_config
from services.connectors.worker import Worker
from services.core.db.models import Agreement
from services.core.errors import NdxpError
from services.core.http.state import CoreState
from services.core.kafka.topics import connector_group, dataset_topic
from services.core.sharing.lag import LagCollector, Lagging, lag_collector
from services.core.sharing.metrics import CONNECTOR_SINK_LAG


async def sinks(core: CoreState, worker: Worker) -> list[Lagging]:
    """Every sink connector with a valid config, as the collector measures it."""
    found: dict[str, ConnectorConfig] = {}
    for name in worker.names():
        try:
            config = parse_config(worker.raw_config(name))
        except NdxpError:  # an invalid config, or deleted meanwhile: nothing to measure
            continue
        if config.cls.kind == "sink":
            found[name] = config
    agreements = {c.agreement for c in found.values() if c.agreement is not None}
    consumers: dict[str, str] = {}
    if agreements:
        async with core.sessions() as session:
            rows = await session.execute(
                select(Agreement.id, Agreement.consumer_agency).where(Agreement.id.in_(agreements))
            )
            consumers = {row.id: row.consumer_agency for row in rows}
    return [
        Lagging(
            (name, consumers.get(config.agreement or "", ""), f"{config.agency}.{config.dataset}"),
            connector_group(name),
            dataset_topic(config.agency, config.dataset),
        )
        for name, config in sorted(found.items())
    ]


@asynccontextmanager
async def sink_lag(core: CoreState, worker: Worker) -> AsyncIterator[LagCollector]:
    """The collector of the connect worker's lifetime."""
    async with lag_collector(
        "connectors",
        CONNECTOR_SINK_LAG,
        lambda: sinks(core, worker),
        sessions=core.sessions,
        kafka=core.settings.kafka,
        bootstrap=core.kafka_bootstrap,
    ) as collector:
        yield collector
