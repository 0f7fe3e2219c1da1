"""``Idempotency-Key`` on publish: a retried batch is written once.

A key belongs to a client and a dataset and lives 24 hours from its first use. The first request
*claims* it by inserting its row, marked in progress (``status_code`` 0), before anything is
written to Kafka; the primary key (client, dataset, key) makes the claim atomic on every backend
and across replicas, so of two concurrent duplicates one claims and the other gets 409
``idempotency_key_in_progress`` (with ``Retry-After``) without writing. The claimant stores its
201 answer in the row; a later request with the key and the same request (body, media type and
``schema_version``, hashed) gets that answer again, with ``Idempotent-Replayed: true``; with
another request, 422 ``idempotency_key_reused``.

A request that fails (4xx, 503) wrote nothing, so it releases its claim: the client may retry
with the same key, or fix the body and retry with it. One ambiguity remains, as with any write
over a network: if Kafka committed but its answer was lost, the request answers 503 and a retry
writes the batch again; its records then carry the same ``ndxp-event-id`` values (derived from
the key, see ``services.gateway.publish``), so consumers can drop the repeats.

Rows older than 24 hours are purged lazily: a claim that meets one replaces it, and at most once a
minute per process a claim deletes every expired row. A row left in progress by a process that
died is taken over once it is older than ``abandoned_after`` seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.models import IdempotencyKey
from services.core.errors import BadRequest, Conflict, Unprocessable

WINDOW: Final = timedelta(hours=24)
IN_PROGRESS: Final = 0
PURGE_EVERY: Final = 60.0
MAX_KEY_LENGTH: Final = 200
CLAIM_ATTEMPTS: Final = 3


class InvalidIdempotencyKey(BadRequest):
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    title = "Idempotency key reused"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    title = "Idempotency key in progress"


@dataclass(frozen=True)
class Replay:
    """The stored answer to a request made before with the same key."""

    status: int
    body: dict[str, Any]


def check_key(key: str) -> str:
    """The key if it is 1 to 200 visible ASCII characters; 400 otherwise."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " < c <= "~" for c in key):
        raise InvalidIdempotencyKey("Idempotency-Key must be 1 to 200 visible ASCII characters")
    return key


def request_hash(*parts: bytes | str) -> str:
    """SHA-256 over the parts that make two requests "the same" (each length-prefixed)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


class IdempotencyKeys:
    """Claims, answers and releases of keys in the control plane (see the module docstring)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], abandoned_after: float = 300.0
    ) -> None:
        self.sessions = sessions
        self.abandoned_after = timedelta(seconds=abandoned_after)
        self._last_purge = float("-inf")

    async def claim(self, client_id: str, dataset_id: str, key: str, digest: str) -> Replay | None:
        """Claim ``key`` for this request: None if claimed (the caller then writes and calls
        :meth:`complete` or :meth:`release`), the first answer if it was given already."""
        await self._maybe_purge()
        for _ in range(CLAIM_ATTEMPTS):
            now = datetime.now(UTC)
            if await self._insert(client_id, dataset_id, key, digest, now):
                return None
            async with self.sessions() as session:
                row = await session.get(IdempotencyKey, (client_id, dataset_id, key))
            if row is None:  # released in between: try again
                continue
            stale = row.created_at <= now - WINDOW or (
                row.status_code == IN_PROGRESS and row.created_at <= now - self.abandoned_after
            )
            if stale:
                await self._remove_stale(row, now)
                continue
            if row.request_hash != digest:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was used for another request to {dataset_id} "
                    "within 24 hours; use a new key for a new batch"
                )
            if row.status_code == IN_PROGRESS:
                raise IdempotencyKeyInProgress(
                    f"a request with Idempotency-Key {key!r} is still being processed",
                    headers={"Retry-After": "1"},
                )
            return Replay(row.status_code, row.response)
        raise IdempotencyKeyInProgress(
            f"Idempotency-Key {key!r} is contended; retry", headers={"Retry-After": "1"}
        )

    async def complete(
        self, client_id: str, dataset_id: str, key: str, status: int, body: Mapping[str, Any]
    ) -> None:
        """Store the answer the claimant gave, for replays."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(*_row(client_id, dataset_id, key))
                .values(status_code=status, response=dict(body))
            )

    async def release(self, client_id: str, dataset_id: str, key: str) -> None:
        """Give the key up: the request failed and wrote nothing."""
        async with self.sessions.begin() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    *_row(client_id, dataset_id, key), IdempotencyKey.status_code == IN_PROGRESS
                )
            )

    async def _insert(
        self, client_id: str, dataset_id: str, key: str, digest: str, now: datetime
    ) -> bool:
        row = IdempotencyKey(
            client_id=client_id,
            dataset_id=dataset_id,
            key=key,
            request_hash=digest,
            status_code=IN_PROGRESS,
            response={},
            created_at=now,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def _remove_stale(self, row: IdempotencyKey, now: datetime) -> None:
        """Delete ``row`` if it is still expired or abandoned (another request may have replaced
        it in between)."""
        async with self.sessions.begin() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    *_row(row.client_id, row.dataset_id, row.key),
                    or_(
                        IdempotencyKey.created_at <= now - WINDOW,
                        and_(
                            IdempotencyKey.status_code == IN_PROGRESS,
                            IdempotencyKey.created_at <= now - self.abandoned_after,
                        ),
                    ),
                )
            )

    async def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = time.monotonic()
        async with self.sessions.begin() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    IdempotencyKey.created_at <= datetime.now(UTC) - WINDOW
                )
            )


def _row(client_id: str, dataset_id: str, key: str) -> tuple[Any, ...]:
    return (
        IdempotencyKey.client_id == client_id,
        IdempotencyKey.dataset_id == dataset_id,
        IdempotencyKey.key == key,
    )
