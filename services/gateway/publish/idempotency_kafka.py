"""What a dead owner of an ``Idempotency-Key`` left in Kafka: was its batch committed?

The owner recorded, before it committed, its producer's transactional id and where its records
were placed (``services.gateway.publish.idempotency``). To decide, the taker:

1. **fences** every producer of the dead owner (the owner is its producer pool's prefix, so its
   transactional ids are known: ``core.kafka.producer_pool.transactional_ids``) and the one its
   intent names: a producer started with an id asks the coordinator for a new epoch, which
   completes a commit the owner had asked for and aborts a transaction it had left open, and from
   then on refuses the old producer (should its process still be alive, its commit fails with
   ``PRODUCER_FENCED`` and that producer is recycled). This is done even when the owner left no
   intent: its open transaction would otherwise hold back every read_committed consumer of the
   partitions it wrote to — the retried batch included — until the transaction timed out;
2. **reads** the first record's offset as a read_committed consumer: once the last stable offset
   has passed it, a committed record is there and an aborted one is not.

A transaction's records are committed or aborted together, so one record answers for the batch.
A record already deleted by retention counts as committed: the owner meant to commit it, and a
second copy is the worse mistake.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from aiokafka import TopicPartition

from services.core.config import KafkaSettings
from services.core.errors import Unavailable
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.producer import create_producer, start_producer
from services.core.kafka.producer_pool import transactional_ids

POLL_MS: Final = 200


@dataclass(frozen=True)
class KafkaOutcome:
    """Fences a dead owner's producers and reads whether its batch was committed."""

    kafka: KafkaSettings
    bootstrap: str
    timeout: float
    producers: int  # the size of every gateway's producer pool (``NDXP_GATEWAY_PUBLISH_PRODUCERS``)

    async def fence(self, owner: str | None, transactional_id: str | None) -> None:
        """Fence every producer of ``owner`` and ``transactional_id`` (the one its intent named,
        if any): their open transactions are aborted, a commit they asked for is completed;
        ``Unavailable`` if Kafka cannot do it within the timeout."""
        ids = set() if owner is None else {*transactional_ids(owner, self.producers)}
        if transactional_id is not None:
            ids.add(transactional_id)
        async with self._within("fence the earlier attempt's producers"):
            failed = [
                error
                for error in await asyncio.gather(
                    *(self._fence(each) for each in sorted(ids)), return_exceptions=True
                )
                if error is not None
            ]
        if failed:
            raise failed[0]

    async def committed(self, topic: str, partition: int, offset: int) -> bool:
        """True if the record at ``offset`` of ``topic``'s ``partition`` was committed (call
        after :meth:`fence`); ``Unavailable`` if Kafka cannot say within the timeout."""
        async with self._within("settle the earlier attempt of this batch"):
            return await self._visible(TopicPartition(topic, partition), offset)

    @contextlib.asynccontextmanager
    async def _within(self, what: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError as exc:
            raise Unavailable(f"Kafka did not {what} within {self.timeout:g} s") from exc

    async def _fence(self, transactional_id: str) -> None:
        producer = await start_producer(
            create_producer(self.kafka, bootstrap=self.bootstrap, transactional_id=transactional_id)
        )
        try:
            with kafka_errors("Kafka"):
                await producer.begin_transaction()  # waits for the new epoch: the fence
                await producer.abort_transaction()
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _visible(self, tp: TopicPartition, offset: int) -> bool:
        consumer = create_consumer(self.kafka, bootstrap=self.bootstrap)
        with kafka_errors("Kafka"):
            await consumer.start()
            try:
                consumer.assign([tp])
                if (await consumer.beginning_offsets([tp]))[tp] > offset:
                    return True  # deleted by retention since: see the module docstring
                while (await consumer.end_offsets([tp]))[tp] <= offset:  # noqa: ASYNC110 - polls the LSO
                    await asyncio.sleep(POLL_MS / 1000)
                consumer.seek(tp, offset)
                while True:
                    started = time.monotonic()
                    records = (await consumer.getmany(tp, timeout_ms=POLL_MS)).get(tp, [])
                    if records:
                        return bool(records[0].offset == offset)
                    if await consumer.position(tp) > offset:
                        return False  # skipped: aborted
                    if time.monotonic() - started < POLL_MS / 2000:
                        await asyncio.sleep(POLL_MS / 1000)
            finally:
                await consumer.stop()
