"""The one way ndxp builds a Kafka producer: idempotent, ``acks=all``, large records allowed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from prometheus_client import Counter

from services.core.config import KafkaSettings
from services.core.kafka.errors import kafka_errors

# A published event may be up to 5 MiB of Avro; the request carries it plus headers and framing.
# Topics that take such records need ``max.message.bytes`` at least this large.
MAX_REQUEST_SIZE = 6 * 1024 * 1024
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    # Below the broker's default message.max.bytes (~1 MiB): a full batch is always accepted.
    "max_batch_size": 512 * 1024,
    "max_request_size": MAX_REQUEST_SIZE,
}


RECYCLES = Counter(
    "ndxp_producer_recycles_total",
    "Kafka producers discarded and replaced, by the error that made them unusable.",
    ["reason"],
)
TRANSACTIONS = Counter(
    "ndxp_kafka_transactions_total",
    "Kafka transactions of the publish path by outcome: committed, aborted, or abandoned (its "
    "producer discarded with the transaction open: Kafka aborts it when the producer's slot "
    "fences it, or at the transaction timeout).",
    ["outcome"],
)
for _outcome in ("committed", "aborted", "abandoned"):  # every outcome visible from the start
    TRANSACTIONS.labels(_outcome)


class Record(NamedTuple):
    """One record to send: its key, value, headers and, rarely, an explicit partition."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = None


def create_producer(
    settings: KafkaSettings,
    *,
    bootstrap: str | None = None,
    transactional_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaProducer:
    """An unstarted producer; ``await producer.start()`` (or ``async with``) and always ``stop()``.

    It is idempotent with ``acks="all"``: an acknowledged record is on every in-sync replica,
    exactly once. With ``transactional_id`` it is transactional
    (``async with producer.transaction()``) and read_committed consumers see a batch all at once or
    not at all. Must be called with an event loop running.
    """
    options: dict[str, Any] = {
        **settings.client_options(bootstrap),
        **PRODUCER_DEFAULTS,
        **overrides,
    }
    if transactional_id is not None:
        options["transactional_id"] = transactional_id
    return AIOKafkaProducer(**options)


async def start_producer(producer: AIOKafkaProducer) -> AIOKafkaProducer:
    """Start ``producer``; a cluster that does not answer is ``Unavailable`` (and it is stopped)."""
    try:
        with kafka_errors("Kafka producer"):
            await producer.start()
    except BaseException:
        await producer.stop()
        raise
    return producer


async def send_batch(
    producer: AIOKafkaProducer, topic: str, records: Iterable[Record]
) -> list[RecordMetadata]:
    """Send every record to ``topic`` and wait until Kafka acknowledged them all.

    Returns each record's partition and offset, in the order given. If any record fails the whole
    call fails (``Unavailable`` when Kafka is unreachable or timed out); inside a transaction the
    caller aborts it, so nothing of the batch becomes visible.
    """
    futures: list[asyncio.Future[RecordMetadata]] = []
    with kafka_errors(f"Kafka topic {topic}"):
        try:
            for record in records:
                futures.append(  # noqa: PERF401 - each send may wait for buffer space
                    await producer.send(
                        topic,
                        record.value,
                        key=record.key,
                        headers=list(record.headers),
                        partition=record.partition,
                    )
                )
        except BaseException:
            # The records already queued still get their acks or errors; nobody awaits them now.
            for future in futures:
                future.add_done_callback(_retrieve)
            raise
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
    return [result for result in results if isinstance(result, RecordMetadata)]


def _retrieve(future: asyncio.Future[RecordMetadata]) -> None:
    if not future.cancelled():
        future.exception()
