"""The gateway's transactional Kafka producers: a few per process, each started on first use.

aiokafka runs one transaction at a time per producer, so the publish path keeps ``size`` of them
and takes one per transaction. Transactional ids are unique per process
(``ndxp-gateway-<random>-<n>``, :func:`transactional_ids` of the pool's ``prefix``), so replicas
never fence each other — and whoever knows a dead process's prefix can fence all of its producers,
which makes Kafka abort the transactions it left open at once instead of after
``transaction_timeout_ms`` (read_committed consumers of those partitions wait until then).

A producer that failed in a way that leaves its state unknown (an abort that failed too, a
cancelled transaction) is discarded, stopped in the background; its slot starts a new one with the
same transactional id next time, which fences the old one and makes Kafka abort the transaction it
left open.

A producer that met an error Kafka does not retry (``MESSAGE_TOO_LARGE``,
``OUT_OF_ORDER_SEQUENCE_NUMBER``, ``PRODUCER_FENCED``, ``INVALID_PRODUCER_EPOCH``, a transaction
state error, ...) is discarded the same way even if its abort succeeded: its sequence numbers or
epoch may no longer match the broker's, and a kept one would fail every later transaction. Each
discard counts in ``ndxp_producer_recycles_total{reason}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

from aiokafka import AIOKafkaProducer

from services.core.config import KafkaSettings
from services.core.kafka.producer import RECYCLES, create_producer, start_producer

log = logging.getLogger(__name__)

STOP_TIMEOUT: Final = 30.0
# A transaction's first partition is refused (CONCURRENT_TRANSACTIONS) until the markers of the
# producer's previous one are written: retry soon, as Java's producer does, not after 100 ms
# (measured: 8 producers commit ~1.7x as many transactions a second, with less broker CPU each).
RETRY_BACKOFF_MS: Final = 10


class Broken(Exception):  # a signal to the pool, not an error a caller sees
    """Raised inside :meth:`ProducerPool.producer`'s block: discard the producer, then raise
    ``error`` to the caller. ``reason`` (a Kafka error's class name, or ``unknown_state``) is
    the metric's label."""

    def __init__(self, error: BaseException, reason: str = "unknown_state") -> None:
        super().__init__(str(error))
        self.error = error
        self.reason = reason


def transactional_ids(prefix: str, size: int) -> list[str]:
    """The transactional ids of a pool of ``size`` producers named ``prefix``."""
    return [f"{prefix}-{number}" for number in range(size)]


@dataclass
class _Slot:
    number: int
    transactional_id: str
    producer: AIOKafkaProducer | None = None


@dataclass
class ProducerPool:
    """``size`` transactional producers of one process; see the module docstring."""

    kafka: KafkaSettings
    bootstrap: str
    size: int
    transaction_timeout_ms: int = 60_000
    prefix: str = field(default_factory=lambda: f"ndxp-gateway-{uuid.uuid4().hex[:12]}")
    _idle: asyncio.Queue[_Slot] = field(default_factory=asyncio.Queue)
    _stopping: set[asyncio.Task[None]] = field(default_factory=set)

    _ids: dict[int, str] = field(default_factory=dict)  # id(producer) -> its transactional id

    def __post_init__(self) -> None:
        for number, transactional_id in enumerate(transactional_ids(self.prefix, self.size)):
            self._idle.put_nowait(_Slot(number, transactional_id))

    def transactional_id(self, producer: AIOKafkaProducer) -> str:
        """The transactional id of a producer this pool handed out (and has not discarded)."""
        return self._ids[id(producer)]

    @contextlib.asynccontextmanager
    async def producer(self) -> AsyncIterator[AIOKafkaProducer]:
        """A started producer for one transaction (``Unavailable`` if it cannot start); raise
        :class:`Broken` in the block to have it discarded."""
        slot = await self._idle.get()
        try:
            if slot.producer is None:
                slot.producer = await start_producer(
                    create_producer(
                        self.kafka,
                        bootstrap=self.bootstrap,
                        transactional_id=slot.transactional_id,
                        transaction_timeout_ms=self.transaction_timeout_ms,
                        retry_backoff_ms=RETRY_BACKOFF_MS,
                    )
                )
                self._ids[id(slot.producer)] = slot.transactional_id
            yield slot.producer
        except Broken as broken:
            RECYCLES.labels(broken.reason).inc()
            log.warning("Kafka producer %s recycled: %s", slot.transactional_id, broken.reason)
            self._discard(slot)
            raise broken.error from broken.__cause__
        finally:
            self._idle.put_nowait(slot)

    def _discard(self, slot: _Slot) -> None:
        producer, slot.producer = slot.producer, None
        if producer is not None:
            self._ids.pop(id(producer), None)
            task = asyncio.create_task(_stop(producer))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def close(self) -> None:
        """Stop every producer (call when no transaction is open)."""
        slots = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        for slot in slots:
            self._discard(slot)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)


async def _stop(producer: AIOKafkaProducer) -> None:
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await producer.stop()
    except Exception:  # a producer being thrown away may fail any way it likes
        log.warning("a discarded Kafka producer did not stop cleanly", exc_info=True)
