"""What subscriptions need at run time, opened by the gateway's lifespan and closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.avro.contract_cache import ContractCache
from services.core.config import GatewaySettings, KafkaSettings
from services.core.http.state import CoreState
from services.gateway.backends import Backends
from services.gateway.subscriptions.consumers import ConsumerPool
from services.gateway.subscriptions.group_offsets import GroupOffsets
from services.gateway.subscriptions.heads import Heads
from services.gateway.subscriptions.limits import DeliveryLimits
from services.gateway.subscriptions.stream_watch import StreamWatch


@dataclass(frozen=True)
class Subscribe:
    """The control plane, Kafka (pooled subscription consumers, the streams' shared head readers
    and their commits), the contracts of records and the replica's delivery limits and the watch
    over its open streams."""

    sessions: async_sessionmaker[AsyncSession]
    kafka: KafkaSettings
    bootstrap: str
    pool: ConsumerPool
    contracts: ContractCache
    limits: DeliveryLimits
    watch: StreamWatch
    heads: Heads
    offsets: GroupOffsets


@asynccontextmanager
async def subscribe_resources(
    core: CoreState, settings: GatewaySettings, backends: Backends
) -> AsyncIterator[Subscribe]:
    """The pool of subscription consumers (each started on first use, so the gateway starts while
    Kafka is still coming up) and the contracts records name, over the backends' registry
    client."""
    pool = ConsumerPool(settings.kafka, core.kafka_bootstrap)
    contracts = ContractCache(backends.registry)
    watch = StreamWatch(core.sessions)
    heads = Heads(
        settings.kafka,
        core.kafka_bootstrap,
        window=settings.stream_window_records,
        linger=settings.head_linger_seconds,
        catchup=settings.catchup_consumers,
    )
    offsets = GroupOffsets(settings.kafka, core.kafka_bootstrap)
    try:
        yield Subscribe(
            core.sessions,
            settings.kafka,
            core.kafka_bootstrap,
            pool,
            contracts,
            DeliveryLimits.from_settings(settings),
            watch,
            heads,
            offsets,
        )
    finally:
        await watch.close()
        await heads.close()
        await offsets.close()
        await pool.close()
