"""Which Kafka errors make the publisher recycle its producer, and the size a record takes."""

from __future__ import annotations

from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownTopicOrPartitionError,
)

from services.core.errors import PayloadTooLarge, Unavailable
from services.core.kafka.errors import fatal_reason as _fatal
from services.core.kafka.record_limits import BATCH_HEADER, record_size, size_in_batch


def caused(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


def test_errors_kafka_does_not_retry_are_fatal_by_name() -> None:
    assert _fatal(OutOfOrderSequenceNumber()) == "OutOfOrderSequenceNumber"
    assert _fatal(ProducerFenced()) == "ProducerFenced"
    too_large = caused(PayloadTooLarge("too large"), MessageSizeTooLargeError())
    assert _fatal(too_large.__cause__) == "MessageSizeTooLargeError"
    assert _fatal(caused(RuntimeError("wrapped"), OutOfOrderSequenceNumber())) == (
        "OutOfOrderSequenceNumber"
    )


def test_retriable_errors_and_a_missing_topic_keep_the_producer() -> None:
    assert _fatal(None) is None
    assert _fatal(NotLeaderForPartitionError()) is None
    assert _fatal(KafkaConnectionError()) is None
    assert _fatal(UnknownTopicOrPartitionError()) is None
    assert _fatal(TimeoutError()) is None
    assert _fatal(Unavailable("down")) is None


def test_a_record_size_counts_key_value_headers_and_the_batch_header() -> None:
    small = record_size(None, b"v", [])
    assert BATCH_HEADER < small < BATCH_HEADER + 40
    big = record_size(b"key", b"v" * 10_000, [("ndxp-event-id", b"x" * 36)])
    assert 10_000 + 3 + 13 + 36 + BATCH_HEADER <= big < 10_000 + 3 + 13 + 36 + BATCH_HEADER + 40
    assert (
        size_in_batch(b"key", b"v" * 10_000, [("ndxp-event-id", b"x" * 36)]) == big - BATCH_HEADER
    )
