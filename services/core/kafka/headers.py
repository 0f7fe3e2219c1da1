"""The record headers ndxp writes on every event, and their (UTF-8) encoding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

EVENT_ID = "ndxp-event-id"
PRODUCER = "ndxp-producer"
SCHEMA_ID = "ndxp-schema-id"
PUBLISHED_AT = "ndxp-published-at"
TRACEPARENT = "traceparent"
CONNECTOR = "ndxp-connector"  # the connector that wrote the event (or dead-lettered a record)

HeaderValue = str | bytes | int
Headers = list[tuple[str, bytes]]


def encode_headers(mapping: Mapping[str, HeaderValue]) -> Headers:
    """Kafka headers from a mapping: text as UTF-8, integers as their decimal text, bytes as-is."""
    headers: Headers = []
    for name, value in mapping.items():
        if not name:
            raise ValueError("a header name must not be empty")
        if isinstance(value, bytes):
            headers.append((name, value))
        elif isinstance(value, str):
            headers.append((name, value.encode()))
        elif isinstance(value, int) and not isinstance(value, bool):
            headers.append((name, str(value).encode()))
        else:
            raise TypeError(f"header {name!r}: expected str, bytes or int, not {type(value)}")
    return headers


def decode_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka headers as text. A repeated name keeps its last value (Kafka's ``lastHeader``); a null
    value reads as ``""``; bytes that are not UTF-8 (from foreign producers) decode with U+FFFD
    rather than failing the consumer."""
    return {name: (value or b"").decode("utf-8", errors="replace") for name, value in headers or ()}


def utc_millis(moment: datetime) -> str:
    """``moment`` as ndxp writes instants (``ndxp-published-at``, delivered records, inserted
    timestamps): ISO 8601 in UTC with milliseconds, ``2025-03-14T02:30:15.123Z``."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
