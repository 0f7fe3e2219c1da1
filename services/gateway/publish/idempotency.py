"""``Idempotency-Key`` on publish: a retried batch is written once, even across a crash.

A key belongs to a client and a dataset and lives 24 hours from its first use. The first request
*claims* it by inserting its row, marked in progress (``status_code`` 0), before anything is
written to Kafka; the primary key (client, dataset, key) makes the claim atomic on every backend
and across replicas. The claim names its **owner** (this process: its producer pool's random
prefix) and holds a **lease** (``lease`` seconds, renewed while the request works). A duplicate
that meets a live claim gets 409 ``idempotency_key_in_progress`` with ``Retry-After: 1``; one
that meets a claim whose owner is gone (the lease passed, or the owner is this process and no
longer works on it) **takes it over**. The owner stores its 201 answer in the row; a later
request with the key and the same request (body, media type and ``schema_version``, hashed) gets
that answer again, with ``Idempotent-Replayed: true``; with another request, 422
``idempotency_key_reused``.

**Never twice.** Between its records being acknowledged and its Kafka transaction committing,
the owner records its producer's transactional id and the answer it is about to give
(:meth:`IdempotencyKeys.intend`); that write succeeds only while it still owns the row, and it
commits only if it did. A taker first fences all of the owner's producers (aborting what it left
open, which would hold back read_committed consumers until Kafka timed it out), then finds one of
two things: no intent (the owner never committed and never will: the taker writes the batch
itself), or an intent (the owner may have committed): the taker reads whether the records are there
(``services.gateway.publish.idempotency_kafka``); committed, it stores and replays the owner's
answer, with its offsets; aborted, it writes the batch itself. Decision 0009 has the reasoning.

A request that fails (4xx, 503) before recording an intent wrote nothing, so it releases its
claim: the client may retry with the same key, or fix the body and retry with it. One that fails
after (Kafka's answer to the commit was lost) *abandons* it: the row and intent stay, the lease
ends at once, and the retry takes over and learns from Kafka whether the batch is there. The
records of a keyed batch carry ``ndxp-event-id`` values derived from the key
(``services.core.events.encode``), so even a copy written outside this protocol could be
recognised by consumers.

Rows older than 24 hours are purged lazily: a claim that meets one replaces it, and at most once a
minute per process a claim deletes every expired row. Every write by an owner (renewal, intent,
answer, release) names it, so a request that lost its claim cannot overwrite its taker's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.db.models import IdempotencyKey
from services.core.errors import BadRequest, Conflict, Unprocessable
from services.core.tasks import cancel_requested

log = logging.getLogger(__name__)

WINDOW: Final = timedelta(hours=24)
IN_PROGRESS: Final = 0
CREATED: Final = 201
LEASE: Final = 10.0  # seconds a claim outlives its owner's last renewal
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
    recovered: bool = False  # a dead owner's committed batch: not yet counted or audited


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


class Outcome(Protocol):
    """What a dead owner left in Kafka (``publish.idempotency_kafka``)."""

    async def fence(self, owner: str | None, transactional_id: str | None) -> None: ...

    async def committed(self, topic: str, partition: int, offset: int) -> bool: ...


class IdempotencyKeys:
    """Claims, answers and releases of keys in the control plane (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outcome: Outcome,
        *,
        lease: float = LEASE,
        renew_for: float = 300.0,
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.outcome = outcome
        self.lease = timedelta(seconds=lease)
        self.renew_for = renew_for  # a claim is renewed at most this long
        self.owner = owner or f"gateway-{uuid.uuid4().hex}"
        self._held: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._last_purge = float("-inf")

    async def claim(
        self, client_id: str, dataset_id: str, key: str, digest: str, *, topic: str
    ) -> Replay | None:
        """Claim ``key`` for this request: None if claimed (the caller then writes to ``topic``
        and calls :meth:`complete` or :meth:`release`), the first answer if it was given
        already."""
        await self._maybe_purge()
        for _ in range(CLAIM_ATTEMPTS):
            now = datetime.now(UTC)
            if await self._insert(client_id, dataset_id, key, digest, now):
                self._hold(client_id, dataset_id, key)
                return None
            async with self.sessions() as session:
                row = await session.get(IdempotencyKey, (client_id, dataset_id, key))
            if row is None:  # released in between: try again
                continue
            if row.created_at <= now - WINDOW:
                await self._remove_expired(row, now)
                continue
            if row.request_hash != digest:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was used for another request to {dataset_id} "
                    "within 24 hours; use a new key for a new batch"
                )
            if row.status_code != IN_PROGRESS:
                return Replay(row.status_code, row.response)
            if self._lease_left(row, now) > 0:  # a live owner is usually done within a second
                raise IdempotencyKeyInProgress(
                    f"a request with Idempotency-Key {key!r} is still being processed",
                    headers={"Retry-After": "1"},
                )
            if await self._take_over(row, now):
                return await self._settle(row, topic)
        raise IdempotencyKeyInProgress(
            f"Idempotency-Key {key!r} is contended; retry", headers={"Retry-After": "1"}
        )

    async def intend(
        self,
        client_id: str,
        dataset_id: str,
        key: str,
        transactional_id: str,
        body: Mapping[str, Any],
    ) -> bool:
        """Record, before committing, the transaction and the answer it will give; False if this
        process no longer owns the key (then it must not commit)."""
        return await self._update_own(
            client_id, dataset_id, key, transactional_id=transactional_id, response=dict(body)
        )

    async def complete(
        self, client_id: str, dataset_id: str, key: str, status: int, body: Mapping[str, Any]
    ) -> None:
        """Store the answer the owner gave, for replays."""
        self._let_go(client_id, dataset_id, key)
        await self._update_own(
            client_id, dataset_id, key, status_code=status, response=dict(body),
            transactional_id=None, lease_until=None,
        )  # fmt: skip

    async def release(self, client_id: str, dataset_id: str, key: str) -> None:
        """Give the key up: the request failed and wrote nothing."""
        self._let_go(client_id, dataset_id, key)
        async with self.sessions.begin() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    *_row(client_id, dataset_id, key),
                    IdempotencyKey.status_code == IN_PROGRESS,
                    IdempotencyKey.owner == self.owner,
                )
            )

    async def abandon(self, client_id: str, dataset_id: str, key: str) -> None:
        """Give the key up after a failure that may have followed a commit (the intent was
        recorded): the row stays, its lease ends now, and the next retry takes it over and asks
        Kafka what happened."""
        self._let_go(client_id, dataset_id, key)
        await self._update_own(client_id, dataset_id, key, lease_until=datetime.now(UTC))

    async def close(self) -> None:
        """Stop renewing leases (the gateway is stopping)."""
        tasks = list(self._held.values())
        self._held.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- leases -----------------------------------------------------------------------------

    def _lease_left(self, row: IdempotencyKey, now: datetime) -> float:
        """Seconds until the claim of ``row`` lapses (0: its owner is gone)."""
        if row.owner == self.owner and (row.client_id, row.dataset_id, row.key) not in self._held:
            return 0.0  # this process owns it but works on it no more: its request died
        until = row.lease_until or row.created_at + self.lease  # a claim from before leases
        return max(0.0, (until - now).total_seconds())

    def _hold(self, client_id: str, dataset_id: str, key: str) -> None:
        """Renew the lease while the request works (at most ``renew_for`` seconds)."""
        ident = (client_id, dataset_id, key)
        task = asyncio.create_task(self._renew(ident), name=f"idempotency-lease-{key}")
        self._held[ident] = task

    def _let_go(self, client_id: str, dataset_id: str, key: str) -> None:
        task = self._held.pop((client_id, dataset_id, key), None)
        if task is not None:
            task.cancel()

    async def _renew(self, ident: tuple[str, str, str]) -> None:
        every = self.lease.total_seconds() / 3
        deadline = time.monotonic() + self.renew_for
        while time.monotonic() < deadline:
            await asyncio.sleep(every)
            try:
                await self._update_own(*ident, lease_until=datetime.now(UTC) + self.lease)
            except Exception as exc:  # the next renewal may succeed; the lease says
                if cancel_requested():  # let go of as the update failed: renew no more
                    raise asyncio.CancelledError from exc
                log.warning("the lease of Idempotency-Key %r was not renewed", ident[2])

    # --- takeover ---------------------------------------------------------------------------

    async def _take_over(self, row: IdempotencyKey, now: datetime) -> bool:
        """Make this process the owner of ``row`` if nobody changed it since it was read."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(IdempotencyKey)
                .where(
                    *_row(row.client_id, row.dataset_id, row.key),
                    IdempotencyKey.status_code == IN_PROGRESS,
                    _same(IdempotencyKey.owner, row.owner),
                    _same(IdempotencyKey.lease_until, row.lease_until),
                )
                .values(owner=self.owner, lease_until=now + self.lease)
            )
        taken = _rowcount(result) == 1
        if taken:
            log.warning(
                "Idempotency-Key %r of %s taken over from %s", row.key, row.client_id, row.owner
            )
            self._hold(row.client_id, row.dataset_id, row.key)
        return taken

    async def _settle(self, row: IdempotencyKey, topic: str) -> Replay | None:
        """After a takeover: the dead owner's answer if its batch was committed, else None (the
        caller writes it)."""
        ident = (row.client_id, row.dataset_id, row.key)
        try:
            # its open transactions aborted, so that the retry's records are not held back
            await self.outcome.fence(row.owner, row.transactional_id)
            if row.transactional_id is None:
                return None  # no intent: it never committed, and never will
            first = row.response["offsets"][0]
            committed = await self.outcome.committed(
                topic, int(first["partition"]), int(first["offset"])
            )
        except BaseException:  # undecided: keep the intent; the next retry takes over at once
            await self.abandon(*ident)
            raise
        if committed:
            await self.complete(*ident, CREATED, row.response)
            return Replay(CREATED, row.response, recovered=True)
        await self._update_own(*ident, transactional_id=None, response={})
        return None

    # --- rows -------------------------------------------------------------------------------

    async def _update_own(self, client_id: str, dataset_id: str, key: str, **values: Any) -> bool:
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(IdempotencyKey)
                .where(
                    *_row(client_id, dataset_id, key),
                    IdempotencyKey.status_code == IN_PROGRESS,
                    IdempotencyKey.owner == self.owner,
                )
                .values(**values)
            )
        return _rowcount(result) == 1

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
            owner=self.owner,
            lease_until=now + self.lease,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def _remove_expired(self, row: IdempotencyKey, now: datetime) -> None:
        """Delete ``row`` if it is still expired (another request may have replaced it)."""
        async with self.sessions.begin() as session:
            await session.execute(
                delete(IdempotencyKey).where(
                    *_row(row.client_id, row.dataset_id, row.key),
                    IdempotencyKey.created_at <= now - WINDOW,
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


def _same(column: Any, value: Any) -> Any:
    """``column`` equals ``value`` (NULL matches NULL)."""
    return column.is_(None) if value is None else column == value


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
