"""What a dead owner of an ``Idempotency-Key`` left in Kafka: was its batch committed?

The owner recorded, before it committed, its producer's transactional id and where its records
were placed (``services.gateway.publish.idempotency``). To decide, the taker:

1. **fences** that transactional id: a producer started with it asks the coordinator for a new
   epoch, which completes a commit the owner had asked for and aborts a transaction it had left
   open, and from then on refuses the old producer (should its process still be alive, its commit
   fails with ``PRODUCER_FENCED`` and that producer is recycled);
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
from dataclasses import dataclass
from typing import Final

from aiokafka import TopicPartition

from services.core.config import KafkaSettings
from services.core.errors import Unavailable
from services.core.kafka.consumer import create_consumer
from services.core.kafka.errors import kafka_errors
from services.core.kafka.producer import create_producer, start_producer

POLL_MS: Final = 200


@dataclass(frozen=True)
class KafkaOutcome:
    """Fences a dead owner's producer and reads whether its batch was committed."""

    kafka: KafkaSettings
    bootstrap: str
    timeout: float

    async def committed(
        self, topic: str, transactional_id: str, partition: int, offset: int
    ) -> bool:
        """True if the record at ``offset`` of ``topic``'s ``partition`` was committed (by the
        transaction of ``transactional_id``, fenced first); ``Unavailable`` if Kafka cannot say
        within the timeout."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._fence(transactional_id)
                return await self._visible(TopicPartition(topic, partition), offset)
        except TimeoutError as exc:
            raise Unavailable(
                f"Kafka did not settle the earlier attempt of this batch within {self.timeout:g} s"
            ) from exc

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
