"""What a Kafka failure means to an ndxp client: retry later (503), not found, or too large; and
to a producer: whether it is still usable (:func:`fatal_reason`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
    UnknownTopicOrPartitionError,
)

from services.core.errors import NotFound, PayloadTooLarge, Unavailable


@contextmanager
def kafka_errors(what: str = "Kafka") -> Iterator[None]:
    """Re-raise Kafka's errors as :class:`~services.core.errors.NdxpError`.

    A connection failure, a timeout or any error Kafka calls retriable becomes ``Unavailable`` (the
    client may retry; nothing was acknowledged), an unknown topic ``NotFound`` (ndxp never creates
    topics by accident), an oversized record ``PayloadTooLarge``. Anything else propagates: a bug.
    """
    try:
        yield
    except UnknownTopicOrPartitionError as exc:
        raise NotFound(f"{what}: topic or partition does not exist") from exc
    except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
        raise PayloadTooLarge(f"{what}: record too large for Kafka ({exc})") from exc
    except (KafkaTimeoutError, KafkaUnavailableError, TimeoutError, OSError) as exc:
        raise Unavailable(f"{what} unavailable: {_describe(exc)}") from exc
    except KafkaError as exc:
        if not (exc.retriable or _retriable(exc.__cause__)):
            raise
        raise Unavailable(f"{what} unavailable: {_describe(exc)}") from exc


def _retriable(cause: BaseException | None) -> bool:
    """aiokafka wraps some connection failures in a bare ``KafkaError`` (a producer looking for
    its transaction coordinator when the broker goes away): the cause says what it was."""
    return isinstance(cause, OSError) or (isinstance(cause, KafkaError) and cause.retriable)


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def fatal_reason(cause: BaseException | None) -> str | None:
    """The class name of a Kafka error that leaves a producer unusable (any error Kafka does not
    retry, but an unknown topic, which says nothing about the producer); None otherwise."""
    while cause is not None:
        if isinstance(cause, KafkaError):
            if cause.retriable or isinstance(cause, UnknownTopicOrPartitionError):
                return None
            return type(cause).__name__
        cause = cause.__cause__
    return None
