"""The one way ndxp builds a Kafka consumer: explicit commits, committed data only."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer

from services.core.config import KafkaSettings

CONSUMER_DEFAULTS: dict[str, Any] = {
    # Offsets are committed by the code that has handled the records, never on a timer.
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    # Records of aborted publish transactions are never delivered.
    "isolation_level": "read_committed",
    # Room for the largest record a producer may send (producer.MAX_REQUEST_SIZE).
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
}


def create_consumer(
    settings: KafkaSettings,
    *topics: str,
    bootstrap: str | None = None,
    group_id: str | None = None,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """An unstarted consumer subscribed to ``topics`` (none: assign partitions yourself).

    ``await consumer.start()`` and always ``stop()``; commit with ``consumer.commit()`` after the
    records are handled. Without ``group_id`` it reads every partition and commits nothing.
    Must be called with an event loop running.
    """
    options: dict[str, Any] = {
        **settings.client_options(bootstrap),
        **CONSUMER_DEFAULTS,
        "group_id": group_id,
        **overrides,
    }
    return AIOKafkaConsumer(*topics, **options)
