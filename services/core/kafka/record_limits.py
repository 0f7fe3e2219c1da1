"""How large a record batch a topic takes, checked before anything is sent.

The broker refuses a record batch larger than the topic's ``max.message.bytes`` with
``MESSAGE_TOO_LARGE``; a transactional or idempotent producer that meets that refusal is left with
sequence numbers the broker no longer agrees with, and every later batch fails. So writers ask
first: a record too large for its topic is refused (the gateway: 413) or dead-lettered (connect)
before it reaches a producer, and a batch of many records is cut into produce batches that each
fit. The limit is read from the topic's effective configs (``describe_configs``) and kept
``LIMIT_SECONDS`` per topic, so a change by an operator is seen within a minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from services.core.config import KafkaSettings
from services.core.errors import NotFound, PayloadTooLarge
from services.core.kafka.admin import describe_topic
from services.core.ttlcache import TTLCache

LIMIT_SECONDS: Final = 60.0
DEFAULT_MAX_MESSAGE_BYTES: Final = 1_048_588  # the broker's default: 1 MiB and batch overhead
BATCH_HEADER: Final = 61  # a v2 record batch's header, paid once per produce batch
LISTED: Final = 20  # oversized records named in one refusal

Headers = Sequence[tuple[str, bytes]]


class RecordTooLarge(PayloadTooLarge):
    """A record larger than its topic's ``max.message.bytes``: nothing of the batch is sent."""

    code = "record_too_large"
    title = "Record too large"


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The most bytes ``record`` takes as a produce batch of its own (header included)."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def size_in_batch(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The most bytes ``record`` adds to a produce batch beyond the batch header."""
    return record_size(key, value, headers) - BATCH_HEADER


@dataclass
class TopicLimits:
    """``max.message.bytes`` of topics, each read at most once a minute."""

    kafka: KafkaSettings
    bootstrap: str | None = None
    _limits: TTLCache[int] = field(default_factory=lambda: TTLCache(LIMIT_SECONDS))

    async def max_bytes(self, topic: str) -> int | None:
        """The topic's limit; None if the topic does not exist (the writer reports that)."""

        async def load() -> int:
            described = await describe_topic(self.kafka, topic, bootstrap=self.bootstrap)
            value = described.config.get("max.message.bytes")
            return int(value) if value is not None else DEFAULT_MAX_MESSAGE_BYTES

        try:
            return await self._limits.get(topic, load)
        except NotFound:
            return None

    def forget(self, topic: str) -> None:
        """Read the limit again next time: the broker refused a batch the cached one allowed."""
        self._limits.forget(topic)

    async def oversized(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Headers]]
    ) -> tuple[list[tuple[int, int]], int]:
        """The (index, size) of every record too large for ``topic``, and its limit."""
        limit = await self.max_bytes(topic)
        if limit is None:
            return [], DEFAULT_MAX_MESSAGE_BYTES
        found = [
            (index, size)
            for index, (key, value, headers) in enumerate(records)
            if (size := record_size(key, value, headers)) > limit
        ]
        return found, limit

    async def check(
        self, topic: str, records: Sequence[tuple[bytes | None, bytes | None, Headers]]
    ) -> None:
        """Raise :class:`RecordTooLarge` naming each record (index, size) over the limit."""
        found, limit = await self.oversized(topic, records)
        if not found:
            return
        first, size = found[0]
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise RecordTooLarge(
            f"record {first} is {size} bytes as a Kafka record{more}; the topic {topic} takes "
            f"at most {limit} bytes (max.message.bytes)",
            errors=[
                {"index": index, "size": size, "limit": limit} for index, size in found[:LISTED]
            ],
        )
