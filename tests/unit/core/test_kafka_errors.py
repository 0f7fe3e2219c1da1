"""What a Kafka failure means to a client: the retriable ones are 503, whatever wraps them."""

from __future__ import annotations

import pytest
from aiokafka.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    UnknownTopicOrPartitionError,
)

from services.core.errors import NotFound, Unavailable
from services.core.kafka.errors import kafka_errors


def _raise_wrapped(cause: BaseException) -> None:
    # as aiokafka's sender does when the transaction coordinator cannot be found
    raise KafkaError(repr(cause)) from cause


@pytest.mark.parametrize(
    "cause", [KafkaConnectionError("Connection at 127.0.0.1:9092 closed"), ConnectionResetError()]
)
def test_a_connection_failure_wrapped_in_a_bare_kafka_error_is_unavailable(
    cause: BaseException,
) -> None:
    with (
        pytest.raises(Unavailable, match="Kafka producer unavailable"),
        kafka_errors("Kafka producer"),
    ):
        _raise_wrapped(cause)


def test_a_bare_kafka_error_with_no_retriable_cause_propagates() -> None:
    with pytest.raises(KafkaError) as raised, kafka_errors():
        _raise_wrapped(IllegalStateError("no transaction"))
    assert not isinstance(raised.value, Unavailable)
    with pytest.raises(KafkaError), kafka_errors():
        raise KafkaError("something else")


def test_an_unknown_topic_is_not_found() -> None:
    with pytest.raises(NotFound), kafka_errors():
        raise UnknownTopicOrPartitionError
