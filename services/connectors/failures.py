"""What both kinds of connector share when things go wrong: retries with back-off, the failure
that ends a connector, and dead-letter records with their headers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from services.core.kafka.headers import CONNECTOR, EVENT_ID
from services.core.kafka.producer import Record
from services.core.tasks import cancel_requested

log = logging.getLogger(__name__)
T = TypeVar("T")

ERROR_HEADER: Final = "ndxp-error"
POSITION_HEADER: Final = "ndxp-source-position"
DLQ_RETENTION_MS: Final = 14 * 24 * 3600 * 1000  # two weeks to look at and replay bad rows
EVENT_NAMESPACE: Final = uuid.UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


class ConnectorFailed(Exception):
    """The connector cannot go on; its status says why."""


# One encoder for every call: json.dumps builds a new one whenever an option is not the default.
_encode_canonical: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), default=str
).encode
_EVENT_NAMESPACE_BYTES: Final = EVENT_NAMESPACE.bytes


def canonical(value: Any) -> str:
    """``value`` as compact JSON with sorted keys (anything else JSON lacks as its ``str``)."""
    result: str = _encode_canonical(value)
    return result


def event_id(connector: str, position: Any) -> str:
    """The same source row through the same connector always gets the same event id.

    It is ``str(uuid.uuid5(EVENT_NAMESPACE, f"{connector}\\n{canonical(position)}"))``, computed
    here without building a ``UUID`` object (a third of the time; one id per record): the SHA-1
    of the namespace's bytes and the UTF-8 name, its first 16 bytes with the version (5) and the
    RFC 4122 variant set, formatted 8-4-4-4-12.
    """
    name = f"{connector}\n{_encode_canonical(position)}".encode()
    sha1 = hashlib.sha1(_EVENT_NAMESPACE_BYTES + name, usedforsecurity=False)  # as uuid5 does
    digest = bytearray(sha1.digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # variant 10xx (RFC 4122)
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass
class Retry:
    attempts: int
    backoff: float

    async def __call__(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except (ConnectorFailed, asyncio.CancelledError):
                raise
            except Exception as exc:  # any failure of a source or of Kafka is retried
                if cancel_requested():  # a stop that came as this failure: not the source's
                    raise asyncio.CancelledError from exc
                if attempt == self.attempts:
                    raise ConnectorFailed(f"{what} failed {attempt} times: {exc}") from exc
                log.warning("%s failed (try %d), retrying in %.1fs: %s", what, attempt, delay, exc)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


def dead_letter(
    connector: str,
    reason: str,
    position: str,
    event: str | None,
    *,
    key: str | None,
    value: bytes | None,
) -> Record:
    """A DLQ record: the headers name the error, the connector and where the record came from."""
    headers = [
        (ERROR_HEADER, reason.encode()),
        (CONNECTOR, connector.encode()),
        (POSITION_HEADER, position.encode()),
    ]
    if event is not None:
        headers.append((EVENT_ID, event.encode()))
    return Record(key.encode() if key is not None else None, value, headers)
