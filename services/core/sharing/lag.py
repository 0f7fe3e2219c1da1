"""Lag: the records each consumer group of ndxp's has yet to read, measured in the background.

Every ``NDXP_KAFKA_LAG_INTERVAL`` seconds (:func:`~services.core.tasks.repeating`), the replica
holding the lease of its kind (:class:`~services.core.db.lease.Lease`: ``lag.subscriptions``
among gateways, ``lag.connectors`` among connect workers) measures every group it is given (a
:class:`Lagging`: the gauge's labels, the group, its topic) and sets its gauge; the other replicas
export no series of it, so a sum over replicas counts each group once. A group no longer given
(a subscription or connector deleted) loses its series at the next measure; a replica that loses
the lease, or stops, removes all of its series.

A group's lag is, on each partition of its topic, the records between its committed offset (the
partition's beginning where it has none, or where retention took the records it pointed at: what
the consumer would read) and the last stable offset, counted as a ``read_committed`` consumer
reads them (:meth:`~services.core.kafka.offsets.OffsetReader.count`): transaction markers and
aborted records are not records, so a caught-up consumer reads 0. A partition more than the
reader's budget behind is read a budget at a time and its unread part counted as offsets, an
upper bound, exact again a few measures later.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.config import KafkaSettings
from services.core.db.lease import Lease
from services.core.errors import NdxpError, Unavailable
from services.core.kafka.admin import admin_client
from services.core.kafka.offsets import Count, OffsetReader
from services.core.metrics import forget
from services.core.tasks import repeating

log = logging.getLogger(__name__)

LEASE_INTERVALS: Final = 3  # a lease outlives its holder by this many intervals (30 s at least)
MIN_LEASE: Final = timedelta(seconds=30)

Labels = tuple[str, ...]


@dataclass(frozen=True)
class Lagging:
    """One consumer group to measure: its series' label values, the group and its topic."""

    labels: Labels
    group: str
    topic: str


Targets = Callable[[], Awaitable[Iterable[Lagging]]]


async def group_lag(
    reader: OffsetReader, admin: AIOKafkaAdminClient, group: str, topic: str
) -> Count:
    """The records ``group`` has yet to read of ``topic``, every partition summed."""
    partitions = await reader.partitions(topic)
    committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
    beginnings, ends = await reader.bounds(partitions)
    lag = Count(0)
    for tp in partitions:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else beginnings[tp]
        lag += await reader.count(tp, max(offset, beginnings[tp]), ends[tp])
    return lag


class LagCollector:
    """Sets ``gauge`` for every group ``targets`` names, while this one holds ``lease``."""

    def __init__(
        self,
        gauge: Gauge,
        targets: Targets,
        *,
        reader: OffsetReader,
        lease: Lease,
        kafka: KafkaSettings,
        bootstrap: str,
    ) -> None:
        self.gauge = gauge
        self.targets = targets
        self.reader = reader
        self.lease = lease
        self.kafka = kafka
        self.bootstrap = bootstrap
        self._exported: set[Labels] = set()

    async def collect(self) -> dict[Labels, Count] | None:
        """Measure once: each group's lag by its labels; None if another replica leads."""
        if not await self.lease.take():
            self._export({})
            return None
        measured: dict[Labels, Count] = {}
        try:
            async with admin_client(self.kafka, bootstrap=self.bootstrap) as admin:
                for target in await self.targets():
                    try:
                        measured[target.labels] = await group_lag(
                            self.reader, admin, target.group, target.topic
                        )
                    except NdxpError as exc:  # its topic gone, Kafka slow: unknown this time
                        log.info("lag of %s not measured: %s", target.group, exc)
        except Unavailable as exc:  # ndxp_kafka_up says so too
            log.warning("lags not measured: %s", exc)
        finally:
            self._export(measured)  # what is unknown goes, rather than stay at its last value
        return measured

    async def close(self) -> None:
        self._export({})
        with contextlib.suppress(Exception):  # stopping: a lapsed lease does as well
            await self.lease.release()

    def _export(self, measured: dict[Labels, Count]) -> None:
        for gone in self._exported - measured.keys():
            forget(self.gauge, *gone)  # (a delete on this replica may have taken it already)
        for labels, lag in measured.items():
            self.gauge.labels(*labels).set(lag.records)
        self._exported = set(measured)


@contextlib.asynccontextmanager
async def lag_collector(
    name: str,
    gauge: Gauge,
    targets: Targets,
    *,
    sessions: async_sessionmaker[AsyncSession],
    kafka: KafkaSettings,
    bootstrap: str,
) -> AsyncIterator[LagCollector]:
    """Collect every ``NDXP_KAFKA_LAG_INTERVAL`` seconds under lease ``lag.<name>`` while the
    context is open (never with an interval of 0)."""
    interval = kafka.lag_interval
    duration = max(MIN_LEASE, LEASE_INTERVALS * timedelta(seconds=interval))
    lease = Lease(sessions, f"lag.{name}", duration)
    reader = OffsetReader(kafka, bootstrap=bootstrap)
    collector = LagCollector(
        gauge, targets, reader=reader, lease=lease, kafka=kafka, bootstrap=bootstrap
    )
    try:
        async with repeating(f"the lag collection of {name}", interval, collector.collect):
            yield collector
    finally:
        await collector.close()
        await reader.close()
