"""``EventWriter``: the one way events get into a dataset's topic, for the gateway's publish route
and for every source connector alike.

The writer holds the contract cache, a sender (the gateway's transactional
:class:`~services.core.events.transactions.Publisher`, with its producer pool and group commit;
connect's :class:`~services.core.events.direct.DirectSender`, whose commit is the source offset),
the topics' record limits and the audit trail. A path that writes events:

1. builds its batch: :meth:`EventWriter.encoded` for a publish request (parsed, validated,
   encoded, :mod:`services.core.events.encode`), or :meth:`EventWriter.batch` for values a
   connector encoded itself; either way every record gets the standard headers of
   :func:`~services.core.events.encode.event_headers`;
2. :meth:`EventWriter.send`: the batch to its topic (with the publisher, in one Kafka
   transaction: all or nothing), each record's (partition, offset) back once Kafka acknowledged
   it, so an answer given or an offset committed after it is durable;
3. :meth:`EventWriter.account`: the batch counted in the sharing metrics
   (``ndxp_events_published_total{provider, dataset="<agency>.<dataset>", channel}`` and bytes;
   the publish duration when the caller says when it started) and one ``publish`` audit record.
   An audit record that cannot be written is logged as an error, never raised: the batch is in
   Kafka, and a retry would write it twice.

:meth:`EventWriter.write` is 2 and 3 in one call, for a batch already built (connectors);
:meth:`EventWriter.publish` is 1, 2 and 3 for a publish request (the gateway's route makes this
one call), with its audit record written while Kafka commits, from the moment Kafka acknowledged
the records (:mod:`services.core.events.overlap`), rather than after the commit; the answer waits
for both. What the gateway keeps beside Kafka about a batch — its ``Idempotency-Key`` — is a
:class:`Ledger` the writer tells at each step: before the commit (which it may forbid), once
written, or on failure. Once a batch may be written, ``publish`` finishes (ledger, count, audit)
even if its caller is cancelled, so that what Kafka holds is always accounted for;
:meth:`EventWriter.close` waits for such batches.

Traces (when on, :mod:`services.core.tracing`): a batch is written within
:meth:`EventWriter.publishing`, the ``publish <topic>`` span whose context every record's
``traceparent`` header carries (``publish`` opens it itself; a connector opens it around its
batch); 1 and 2 are its ``encode`` and ``send`` spans.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from services.core.audit import AuditEvent, AuditTrail
from services.core.avro.contract_cache import ContractCache
from services.core.events.encode import PublishRequest, Target, encoded_batch, event_headers
from services.core.events.overlap import OverlappedAudit
from services.core.events.transactions import BeforeCommit, Outgoing, Placed
from services.core.kafka.record_limits import TopicLimits
from services.core.sharing.metrics import PUBLISH_DURATION, count_published
from services.core.tracing import Span, SpanKind, current_traceparent, span

log = logging.getLogger(__name__)


class Sender(Protocol):
    """Where batches go: a ``Publisher`` (transactions) or a ``DirectSender``."""

    limits: TopicLimits

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed: ...

    async def close(self) -> None: ...


class Ledger(Protocol):
    """What a caller keeps about one batch beside Kafka, told by :meth:`EventWriter.publish`."""

    async def intend(self, transactional_id: str, placed: Placed, schema_ids: list[int]) -> bool:
        """Before the commit, once Kafka acknowledged every record: record it; False forbids
        the commit (nothing is written then)."""
        ...

    async def written(self, placed: Placed, schema_ids: list[int]) -> None:
        """After the commit, before the batch is counted and audited; must not raise."""
        ...

    async def failed(self, *, committed_maybe: bool) -> None:
        """The batch failed: nothing was written, or (``committed_maybe``, after :meth:`intend`
        said yes) Kafka's answer to the commit was lost; must not raise."""
        ...


@dataclass(frozen=True)
class Written:
    """Where a published batch's records went, in record order, and the schema ids used."""

    placed: Placed
    schema_ids: list[int]


@dataclass(frozen=True)
class Writer:
    """Who writes a batch, as the audit trail and the metrics name it."""

    agency: str  # the acting agency (the caller's, or the connector's dataset owner)
    client: str  # the OAuth2 client id, or ``connector:<name>``
    channel: str  # ``gateway`` or ``connector``: the metric's label


def dataset_target(agency: str, dataset: str, topic: str, subject: str) -> Target:
    """The target of ``<agency>.<dataset>``: the id every metric label and audit record uses."""
    return Target(f"{agency}.{dataset}", agency, topic, subject)


class EventWriter:
    """Builds, writes, counts and audits batches of events (see the module docstring)."""

    def __init__(
        self,
        contracts: ContractCache,
        sender: Sender,
        *,
        audit: AuditTrail | None = None,
        max_records: int = 10_000,
    ) -> None:
        self.contracts = contracts
        self.sender = sender
        self.audit = audit
        self.max_records = max_records
        self._inflight: set[asyncio.Future[Written]] = set()

    @property
    def limits(self) -> TopicLimits:
        return self.sender.limits

    @staticmethod
    def publishing(to: Target, writer: Writer) -> contextlib.AbstractContextManager[Span | None]:
        """The ``publish <topic>`` span (traces on) a path writes one batch within: the records
        built inside carry its context in their ``traceparent``."""
        return span(
            f"publish {to.topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": to.topic,
                "ndxp.dataset": to.dataset,
                "ndxp.provider": to.owner,
                "ndxp.channel": writer.channel,
                "ndxp.client": writer.client,
            },
        )

    # --- 1. the batch ---------------------------------------------------------------------------

    async def encoded(
        self, to: Target, request: PublishRequest, *, client_id: str
    ) -> tuple[Outgoing, list[int]]:
        """A publish request's records, parsed, validated and encoded with their headers, and
        the schema ids they are written with; 422 naming every bad record, 413 for a record
        larger than the topic takes (nothing of the batch is written then)."""
        own = current_traceparent()  # the publish span's, which the records name
        if own is not None:
            request = replace(request, traceparent=own)
        with span(f"encode {to.topic}") as current:
            batch, schema_ids = await encoded_batch(
                self.contracts, to, request, client_id=client_id, max_records=self.max_records
            )
            if current is not None:
                current.set_attribute("messaging.batch.message_count", len(batch.values))
            await self.limits.check(to.topic, records_of(batch))
        return batch, schema_ids

    @staticmethod
    def batch(
        to: Target,
        values: Sequence[bytes],
        keys: Sequence[bytes | None],
        event_ids: Sequence[bytes],
        *,
        schema_id: int,
        connector: str | None = None,
        traceparent: str | None = None,
    ) -> Outgoing:
        """Encoded values as a batch with the standard headers, written now."""
        now = datetime.now(UTC)
        headers = event_headers(
            event_ids,
            producer=to.owner,
            schema_ids=schema_id,
            published_at=now,
            traceparent=current_traceparent() or traceparent,  # the publish span's, if any
            connector=connector,
        )
        return Outgoing(values, keys, headers, int(now.timestamp() * 1000))

    # --- 2. the transaction ---------------------------------------------------------------------

    async def send(
        self, topic: str, batch: Outgoing, before_commit: BeforeCommit | None = None
    ) -> Placed:
        """Send ``batch`` (the publisher: in one transaction); each record's (partition, offset)
        once acknowledged. ``Unavailable`` (503) if Kafka does not take it in time; then nothing
        of a transaction is visible."""
        if not batch.values:
            return []
        count = {"messaging.batch.message_count": len(batch.values)}
        with span(f"send {topic}", kind=SpanKind.CLIENT, attributes=count):
            return await self.sender.send(topic, batch, before_commit)

    # --- 3. counting and audit ------------------------------------------------------------------

    async def account(
        self,
        to: Target,
        writer: Writer,
        placed: Placed,
        *,
        size: int,
        details: Mapping[str, Any],
        started: float | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        """Count a written batch and audit it (to ``audit``, else the writer's trail);
        ``started`` (``time.perf_counter()``) when the request arrived, for the publish
        duration."""
        self._count(to, writer, placed, size=size, started=started)
        audit = audit or self.audit
        if audit is None or not placed:
            return
        try:
            await audit.record(publish_event(to, writer, placed, size=size, details=details))
        except Exception:  # the batch is committed: it stays written, and the caller goes on
            log.exception(
                "publish of %d records to %s is not in the audit trail", len(placed), to.dataset
            )

    @staticmethod
    def _count(
        to: Target, writer: Writer, placed: Placed, *, size: int, started: float | None
    ) -> None:
        if started is not None:
            PUBLISH_DURATION.labels(to.dataset).observe(time.perf_counter() - started)
        if placed:
            count_published(to.owner, to.dataset, writer.channel, events=len(placed), size=size)

    async def write(
        self, to: Target, writer: Writer, batch: Outgoing, *, details: Mapping[str, Any]
    ) -> Placed:
        """:meth:`send` then :meth:`account`: the batch written, counted and audited."""
        placed = await self.send(to.topic, batch)
        await self.account(to, writer, placed, size=size_of(batch), details=details)
        return placed

    # --- 1, 2 and 3: a publish request ------------------------------------------------------

    async def publish(
        self,
        to: Target,
        writer: Writer,
        request: PublishRequest,
        *,
        ledger: Ledger | None = None,
        details: Mapping[str, Any],
        audit: AuditTrail | None = None,
        started: float | None = None,
    ) -> Written:
        """A publish request's batch built, written, counted and audited (``details`` beside
        its schema id in the audit record), ``ledger`` told at each step, within its
        ``publish`` span; the errors of :meth:`encoded` and :meth:`send`."""
        with self.publishing(to, writer):
            return await self._publish(
                to, writer, request, ledger=ledger, details=details, audit=audit, started=started
            )

    async def _publish(
        self,
        to: Target,
        writer: Writer,
        request: PublishRequest,
        *,
        ledger: Ledger | None,
        details: Mapping[str, Any],
        audit: AuditTrail | None,
        started: float | None,
    ) -> Written:
        try:
            batch, schema_ids = await self.encoded(to, request, client_id=writer.client)
        except BaseException:
            if ledger is not None:
                await ledger.failed(committed_maybe=False)
            raise
        # From here the batch may be written: finish even if the caller is cancelled meanwhile.
        work = self._published(
            to, writer, batch, schema_ids, ledger=ledger, details=details, audit=audit,
            started=started,
        )  # fmt: skip
        done = asyncio.ensure_future(work)
        self._inflight.add(done)
        done.add_done_callback(self._inflight.discard)
        return await asyncio.shield(done)

    async def _published(
        self,
        to: Target,
        writer: Writer,
        batch: Outgoing,
        schema_ids: list[int],
        *,
        ledger: Ledger | None,
        details: Mapping[str, Any],
        audit: AuditTrail | None,
        started: float | None,
    ) -> Written:
        intended = False  # once True, a failure may have followed a commit
        size, details = size_of(batch), _with_schemas(schema_ids, details)
        trail = audit or self.audit
        overlapped = None if trail is None else OverlappedAudit(
            trail, lambda placed: publish_event(to, writer, placed, size=size, details=details)
        )  # fmt: skip

        async def before_commit(transactional_id: str, placed: Placed) -> bool:
            nonlocal intended
            if ledger is not None:
                intended = await ledger.intend(transactional_id, placed, schema_ids)
                if not intended:
                    return False
            if overlapped is not None:  # the audit record is written while Kafka commits
                overlapped.acknowledged(placed)
            return True

        try:
            placed = await self.send(to.topic, batch, before_commit)
        except BaseException as exc:
            if ledger is not None:
                await ledger.failed(committed_maybe=intended)
            if overlapped is not None:
                await overlapped.settle(None, exc)
            raise
        if ledger is not None:
            await ledger.written(placed, schema_ids)
        self._count(to, writer, placed, size=size, started=started)
        if overlapped is not None:
            await overlapped.settle(placed)
        return Written(placed, schema_ids)

    async def recount(
        self,
        to: Target,
        writer: Writer,
        request: PublishRequest,
        placed: Placed,
        *,
        details: Mapping[str, Any],
        audit: AuditTrail | None = None,
    ) -> None:
        """Count and audit a batch another process wrote but did not account for (a dead
        gateway's, found committed by a retry carrying the same records, re-encoded here for
        its size); logged, never raised: the batch is in Kafka either way."""
        try:
            batch, schema_ids = await self.encoded(to, request, client_id=writer.client)
        except Exception:
            log.exception("a recovered publish to %s could not be counted or audited", to.dataset)
            return
        await self.account(to, writer, placed, size=size_of(batch),
                           details=_with_schemas(schema_ids, details), audit=audit)  # fmt: skip

    async def close(self, drain: float = 45.0) -> None:
        """Let published batches whose callers went away finish (at most ``drain`` seconds),
        then close the sender."""
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=drain)
        await self.sender.close()


def _with_schemas(schema_ids: list[int], details: Mapping[str, Any]) -> dict[str, Any]:
    """An audit record's details: the schema id (a list if several), then the caller's."""
    return {"schema_id": schema_ids[0] if len(schema_ids) == 1 else schema_ids, **details}


def publish_event(
    to: Target, writer: Writer, placed: Placed, *, size: int, details: Mapping[str, Any]
) -> AuditEvent:
    """The ``publish`` audit record of a batch written at ``placed``."""
    return AuditEvent(
        "publish",
        writer.agency,
        writer.client,
        dataset=to.dataset,
        provider=to.owner,
        records=len(placed),
        bytes=size,
        offsets=spans(placed),
        details=details,
    )


def size_of(batch: Outgoing) -> int:
    """The bytes of a batch's encoded values: what the sharing metrics count."""
    return sum(len(value or b"") for value in batch.values)


def spans(placed: Placed) -> dict[int, list[int]]:
    """``{partition: [first, last]}`` offsets of a written batch, as audit records hold them."""
    offsets: dict[int, list[int]] = {}
    for partition, offset in placed:
        span = offsets.setdefault(partition, [offset, offset])
        span[0], span[1] = min(span[0], offset), max(span[1], offset)
    return offsets


def records_of(
    batch: Outgoing,
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """A batch's records as (key, value, headers), for the size checks."""
    keys = batch.keys or [None] * len(batch.values)
    return list(zip(keys, batch.values, batch.headers, strict=True))
