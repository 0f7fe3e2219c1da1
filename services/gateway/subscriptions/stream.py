"""Stream delivery: a subscription as Server-Sent Events.

``GET /v1/subscriptions/{id}/stream`` answers ``text/event-stream``. Each record is one event::

    id: <cursor after this record>
    event: record
    data: <the delivered record, JSON>

so an ``EventSource`` reconnecting with ``Last-Event-ID`` resumes exactly after the last event it
received. Without ``Last-Event-ID`` (or with one from before the subscription's last reset) the
stream starts from the subscription's committed offsets.

**Commits.** The stream commits, about once a second and when it ends, the position of everything
it has written to the connection, so a later pull or stream carries on from there. What was
written but lost with a broken connection is not delivered again by the committed offsets; a
client that must not lose records reconnects with ``Last-Event-ID`` (EventSource does), which
takes precedence over them.

**Checks.** Every second the agreement must still be active, the subscription neither reset nor
deleted, and the caller's token not expired; otherwise the stream sends ``event: closed`` with
``data: {"reason", "detail"}`` and ends (revoking or expiring an agreement closes its streams
within about a second; the control plane is read for all of a replica's streams at once,
:mod:`services.gateway.subscriptions.stream_watch`). A gateway told to stop ends its streams the
same way (``shutting_down``) within a second. A ``: keepalive`` comment is sent after 15 s without
records.

**Reading.** A stream at the head of its dataset holds no Kafka client: it is a member of the
replica's shared head reader for its topic and reader schema, which reads and renders each record
once for all of them (:mod:`services.gateway.subscriptions.heads`); the stream adds each event's
cursor and skips what it wrote before it joined. A stream that starts behind (its committed
offsets, or a ``Last-Event-ID``, before the reader's tail) or falls behind (its client reads
slower than the dataset is written) reads with a consumer of its own, from the position of what
it has written, until it is back at the head, then joins the reader and closes that consumer.
Its commits and epoch check go through the replica's one admin client
(:mod:`services.gateway.subscriptions.group_offsets`): the same consumer group, the same
metadata, whichever way it reads.

**Cost.** An idle stream waits on its reader's queue, waking once a second for its checkpoint; a
consumer of its own is closed as soon as it joins the reader or the response ends, however it
ends; each stream holds a slot of the replica's stream limits
(:mod:`services.gateway.subscriptions.limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.core.audit import AuditLog
from services.core.auth.principal import Principal
from services.core.db.models import Subscription
from services.core.errors import NdxpError
from services.core.http.draining import draining
from services.core.sharing.delivery import Delivered, Deliverer, ordered
from services.gateway.subscriptions.consumers import SubscriptionConsumer, open_consumer
from services.gateway.subscriptions.cursor import Cursor, InvalidCursor, encoder
from services.gateway.subscriptions.heads import Chunk, HeadKey, HeadReader, Member, render_chunk
from services.gateway.subscriptions.lifecycle import open_delivery
from services.gateway.subscriptions.limits import Slot
from services.gateway.subscriptions.stream_watch import Watched
from services.gateway.subscriptions.subscribe import Subscribe

log = logging.getLogger(__name__)

CHECK_SECONDS: Final = 1.0
KEEPALIVE_SECONDS: Final = 15.0
BATCH_RECORDS: Final = 500
CLOSE_SECONDS: Final = 5.0  # for the last commit and audit once the client has gone
KEEPALIVE: Final = b": keepalive\n\n"


class _Closed(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


async def open_stream(
    sub: Subscribe,
    principal: Principal,
    subscription_id: str,
    *,
    last_event_id: str | None,
    auth: str | None,
    auditor: AuditLog,
) -> EventStream:
    """Check what can be checked before the response starts (the subscription, the agreement,
    the form of ``Last-Event-ID``, a free slot: 429 past the limits); the response, whose events
    come from a generator that owns its consumer."""
    found, topic, deliverer = await open_delivery(
        sub, principal, subscription_id, "streams", auth, channel="stream"
    )
    resume = None
    if last_event_id:
        resume = Cursor.decode(last_event_id.strip()).for_subscription(found.id)
    slot = sub.limits.streams.take(principal.agency)  # last: nothing after it can fail
    stream = Stream(sub, principal, found, deliverer=deliverer, auditor=auditor)
    return EventStream(stream.events(topic, resume), slot)


class EventStream(StreamingResponse):
    """A stream's response: however it ends (the events over, the client gone, even before the
    first event), its generator is closed, which closes the stream's Kafka consumer, and its
    slot freed. Left to the garbage collector, a generator the server stopped iterating while it
    waited to send would keep its consumer for as long as something held the response."""

    def __init__(self, events: AsyncGenerator[bytes, None], slot: Slot) -> None:
        super().__init__(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self.events, self.slot = events, slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.events.aclose()
            self.slot.release()


class Stream:
    def __init__(
        self,
        sub: Subscribe,
        principal: Principal,
        found: Subscription,
        *,
        deliverer: Deliverer,
        auditor: AuditLog,
    ) -> None:
        self.sub, self.principal, self.found = sub, principal, found
        self.deliverer, self.auditor = deliverer, auditor
        self.topic = ""
        self.positions: dict[int, int] = {}
        self.epoch = 0
        self.committed: dict[int, int] = {}
        self.pending = Delivered()  # written since the last commit: counted and audited then
        self.checkpoint: asyncio.Task[None] | None = None
        self.watched = Watched(found.id, found.agreement_id, principal.agency)
        self.own: SubscriptionConsumer | None = None  # while behind the head
        self.reader: HeadReader | None = None  # while at it
        self.member: Member | None = None
        self.near_head = False  # our own consumer's last fetch was not a full batch

    async def events(self, topic: str, resume: Cursor | None) -> AsyncGenerator[bytes, None]:
        self.topic = topic
        try:
            with self.sub.watch.watching(self.watched):
                await self._start(resume)
                yield f": subscription {self.found.id}\n\n".encode()
                async for chunk in self._run():
                    yield chunk
        except _Closed as closed:
            yield _closed_event(closed.reason, closed.detail)
        except NdxpError as exc:  # Kafka or the registry gone, mid-stream: say so, then end
            log.warning("stream of subscription %s ends: %s", self.found.id, exc.message)
            yield _closed_event(exc.code, exc.message)
        finally:
            with anyio.CancelScope(shield=True):
                self._leave()
                with anyio.move_on_after(CLOSE_SECONDS):
                    await self._finish()
                await self._close_own()
                self.sub.offsets.forget(self.found.group_id)

    async def _head(self) -> HeadReader:
        """The replica's shared reader for this stream's topic and reader schema."""
        deliverer = self.deliverer
        return await self.sub.heads.reader(
            HeadKey.of(self.topic, deliverer), deliverer.agreement, deliverer.schemas
        )

    async def _start(self, resume: Cursor | None) -> None:
        """Join the head reader from the committed position when it can serve it; otherwise (a
        ``Last-Event-ID`` to check, a position behind the reader's tail) read on our own."""
        reader = await self._head()
        if resume is None:
            committed = await self.sub.offsets.committed(
                self.found.group_id, self.topic, reader.partitions
            )
            if set(committed.offsets) >= set(reader.partitions):
                self.epoch = committed.epoch
                self.committed = dict(committed.offsets)
                self.positions = dict(committed.offsets)
                if self._join(reader):
                    return
        await self._catch_up_slot(None)  # the response waits to start while every slot is held
        own = await self._open_own()
        committed = await own.committed()
        self.epoch = committed.epoch
        self.committed = dict(committed.offsets)
        self.positions = dict(committed.offsets)
        if resume is not None and resume.epoch == committed.epoch:
            try:
                resume.check_within(await own.ends())
            except InvalidCursor as exc:
                raise _Closed(exc.code, exc.message) from exc
            self.positions.update(resume.offsets)
        own.seek(self.positions)

    def _join(self, reader: HeadReader) -> bool:
        member = reader.join(self.positions)
        if member is None:
            return False
        self.reader, self.member = reader, member
        return True

    def _leave(self) -> None:
        if self.reader is not None and self.member is not None:
            self.reader.leave(self.member)
        self.reader = self.member = None

    async def _open_own(self) -> SubscriptionConsumer:
        """A consumer of our own, in a catch-up slot taken before (:meth:`_catch_up_slot`)."""
        try:
            self.own = await open_consumer(
                self.sub.kafka, self.sub.bootstrap, self.topic, self.found.group_id
            )
        except BaseException:
            self.sub.heads.catchup.release()
            raise
        return self.own

    async def _catch_up_slot(self, timeout: float | None) -> bool:  # noqa: ASYNC109 - a turn
        """Whether a catch-up slot was free within ``timeout`` seconds (None: however long)."""
        try:
            async with asyncio.timeout(timeout):
                await self.sub.heads.catchup.acquire()
        except TimeoutError:
            return False
        return True

    async def _close_own(self) -> None:
        own, self.own = self.own, None
        if own is not None:
            try:
                await own.close()
            finally:  # once it is closed: the bound counts consumers, closing ones too
                self.sub.heads.catchup.release()

    async def _run(self) -> AsyncIterator[bytes]:
        """Records as they come; every second a checkpoint runs beside them (it costs round
        trips to Kafka and the control plane that records should not wait for)."""
        last_write = time.monotonic()
        next_check = last_write + CHECK_SECONDS
        while True:
            if draining():  # the server waits for this response to end before it can stop
                raise _Closed("shutting_down", "the gateway is stopping; reconnect to go on")
            self._check_watch()  # the agreement revoked, the subscription deleted
            done = self.checkpoint
            if done is not None and done.done():
                self.checkpoint = None
                done.result()  # _Closed (revoked, reset, expired token) or a failure ends it
            now = time.monotonic()
            if now >= next_check:
                if self.checkpoint is None:
                    self.checkpoint = asyncio.create_task(self._checkpoint())
                # Moved on even while a slow checkpoint still runs (it is looked at again then):
                # a deadline left in the past made every fetch return at once, and an idle
                # stream spin.
                next_check = now + CHECK_SECONDS
            chunk = await self._next(max(0.0, next_check - time.monotonic()))
            written = b"" if chunk is None else self._written(chunk)
            if written:
                yield written
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= KEEPALIVE_SECONDS:
                yield KEEPALIVE
                last_write = time.monotonic()

    async def _next(self, timeout: float) -> Chunk | None:  # noqa: ASYNC109 - the loop's turn
        """The next chunk: from the head reader while a member of it; else from our own consumer,
        joining the reader once a fetch finds us near the head and the reader can serve our
        position (dropped by it: back to our own consumer, from what we have written)."""
        member = self.member
        if member is not None and member.dropped is None:
            return await member.next(timeout)
        if member is not None:
            log.info("stream of %s reads on its own: %s", self.found.id, member.dropped)
            self._leave()
            self.near_head = False
        if self.own is None:
            if self._join(await self._head()):  # still within the reader's tail
                return None
            if not await self._catch_up_slot(timeout):
                return None  # the loop's checks and keepalives go on meanwhile
            (await self._open_own()).seek(self.positions)
        if self.near_head and self._join(await self._head()):
            await self._close_own()
            return None
        assert self.own is not None  # noqa: S101 - a stream not at the head has its own consumer
        own = self.own
        fetched = await own.fetch(BATCH_RECORDS, timeout)
        records = ordered(fetched)
        if records:
            await self.deliverer.prepare(records)
        self.near_head = len(records) < BATCH_RECORDS
        return render_chunk(self.deliverer, records, await own.positions())

    def _written(self, chunk: Chunk) -> bytes:
        """The events of ``chunk`` this stream has not written yet, each with its cursor."""
        records = chunk.records
        positions = self.positions
        events: list[bytes] = []
        delivered: list[Any] = []
        batch = Delivered()
        cursor = encoder(self.found.id, self.epoch)
        for record, part, nxt in zip(records, chunk.parts, chunk.nexts, strict=True):
            if record.offset < positions.get(record.partition, 0):
                continue  # written before we joined (a reader's tail)
            batch.add(record.partition, record.offset, part)
            delivered.append(record)
            positions[record.partition] = nxt
            events.append(b"id: " + cursor(positions) + b"\nevent: record\ndata: " + part + b"\n\n")
        self._after(chunk)
        if not delivered:
            return b""
        # each batch a trace of its own: the stream's request may last for days
        with self.deliverer.traced(delivered, {"ndxp.subscription": self.found.id}, root=True):
            self.deliverer.observe_lag(delivered)
        self.pending.merge(batch)
        return b"".join(events)

    def _after(self, chunk: Chunk) -> None:
        """Past the chunk's trailing transaction markers too (never backwards)."""
        for partition, position in chunk.after.items():
            if position > self.positions.get(partition, 0):
                self.positions[partition] = position

    async def _checkpoint(self) -> None:
        """Commit and account what was written; :class:`_Closed` if the stream may not go on."""
        reset = await self._reset()
        await self._commit(commit=not reset)
        if reset:
            raise _Closed("subscription_reset", "the subscription was reset; reconnect")
        expires = self.principal.expires_at
        if expires is not None and time.time() >= expires:
            raise _Closed("token_expired", "the access token has expired; reconnect with a new one")

    async def _reset(self) -> bool:
        """Whether the subscription was reset since the stream started (its epoch moved)."""
        found = await self.sub.offsets.committed(
            self.found.group_id, self.topic, list(self.positions)
        )
        return found.epoch != self.epoch

    def _check_watch(self) -> None:
        """:class:`_Closed` if the replica's watch found the subscription or agreement gone."""
        verdict = self.sub.watch.verdict(self.watched)
        if verdict is not None:
            if verdict.agreement is None:
                raise _Closed(verdict.reason, verdict.detail)
            self.deliverer.under(verdict.agreement)
            if self.reader is not None and self.reader.key != HeadKey.of(
                self.topic, self.deliverer
            ):
                self._moved()

    def _moved(self) -> None:
        """The agreement's reader schema changed: leave the reader of the old one (our own
        consumer reads on, and joins the new one's reader)."""
        if self.member is not None and self.reader is not None:
            self.reader.leave(self.member)
            self.member.drop("agreement_changed")

    async def _commit(self, *, commit: bool = True) -> None:
        """Commit the position of what was written (unless the subscription was reset since the
        stream started: its new position wins), then count and audit it."""
        positions, pending, self.pending = dict(self.positions), self.pending, Delivered()
        moved = {p: o for p, o in positions.items() if o != self.committed.get(p)}
        if moved and commit:
            await self.sub.offsets.commit(self.found.group_id, self.topic, moved, self.epoch)
            self.committed.update(moved)
        await self.deliverer.account(
            self.auditor,
            pending,
            actor=(self.principal.agency, self.principal.client_id),
            details={"subscription": self.found.id},
        )

    async def _finish(self) -> None:
        """The last commit and audit, once the stream is over for whatever reason."""
        try:
            if self.checkpoint is not None:
                with contextlib.suppress(_Closed):
                    await self.checkpoint
            if self.positions:
                await self._commit(commit=not await self._reset())
        except Exception as exc:  # noqa: BLE001 - the stream is over; only log what was lost
            log.warning("stream of subscription %s: last commit failed: %s", self.found.id, exc)


def _closed_event(reason: str, detail: str) -> bytes:
    data = json.dumps({"reason": reason, "detail": detail}, separators=(",", ":"))
    return b"event: closed\ndata: " + data.encode() + b"\n\n"
