"""The delivery rule: what a consumer receives of a dataset's records, the same on every channel.

1. **An active agreement**, checked on every pull and every second of a stream
   (:func:`check_agreement`): nothing is delivered otherwise.
2. **Each record decoded with its writer's schema**, found by the schema id in its wire-format
   header (fetched from the registry once per id, :mod:`services.core.avro.contract_cache`), and
3. **resolved to the agreement's derived reader schema** (``reader_schema_id``): the projection of
   the contract to the granted fields that :mod:`services.core.avro.projection` derived and the
   agreement registered on approval. Avro schema resolution skips every field the reader schema
   lacks, so personal data is delivered only when the agreement names it, and the same holds for
   records of every contract version: a field added later and not granted never appears; a
   granted field missing from an older writer takes its default. (Projecting with each record's
   writer instead would make every record older than a granted field undeliverable.)
4. **Delivered** as JSON (the resolved record in the codec's canonical JSON form) or, with
   ``format=avro``, re-encoded in the Confluent wire format under the reader schema's id, so a
   consumer decodes it with standard tools and that schema from the registry. Both formats carry
   exactly the same fields.

Every delivered record is one JSON object: ``partition``, ``offset``, ``timestamp`` (the Kafka
record's, UTC), ``key``, ``event_id``, ``headers`` (the writer's schema id left out: it is not the
consumer's schema) and ``value``; with ``format=avro`` ``value`` is the framed Avro, base64, and
``schema_id`` the reader schema's id. A record that cannot be decoded (written around the gateway
with an unknown schema id, or not in the wire format) keeps its place with ``value: null`` and an
``error``, so it neither blocks the subscription nor disappears unnoticed. Records keep their
partition's order, so every key's order is kept.

Every delivered batch is counted (``ndxp_events_delivered_total`` and bytes), its records' delivery
lag observed, and audited (:meth:`Deliverer.account`); with traces on, it is delivered within a
``deliver <topic>`` span linked to the ``publish`` spans of its records (:meth:`Deliverer.traced`).

One :class:`Deliverer` applies 2-4 and the accounting for every channel: the gateway's pull and
stream routes, and every sink connector (a push subscription is a ``webhook-sink``). A sink that
delivers its own agency's dataset without an agreement gets every field, uncounted as sharing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import AuditEvent, AuditTrail
from services.core.avro.codec import (
    Contract,
    PayloadInvalid,
    RecordInvalid,
    decode,
    encode,
    schema_id_of,
    to_json,
)
from services.core.avro.contract_cache import UnusableContract
from services.core.db.models import Agreement
from services.core.errors import Conflict, NdxpError
from services.core.kafka.headers import (
    EVENT_ID,
    PUBLISHED_AT,
    SCHEMA_ID,
    decode_headers,
    utc_millis,
)
from services.core.sharing.agreements import active_agreement
from services.core.sharing.metrics import DELIVERY_LAG, count_delivered
from services.core.tracing import Span, SpanKind, record_links, span

log = logging.getLogger(__name__)


# --- 1. the agreement --------------------------------------------------------------------------


async def check_agreement(
    sessions: async_sessionmaker[AsyncSession], agreement_id: str, consumer_agency: str
) -> Agreement:
    """The agreement, if it is active for ``consumer_agency`` now; 403 ``agreement_inactive``
    (:func:`services.core.sharing.agreements.active_agreement`, the rule of every channel)."""
    async with sessions() as session:
        return await active_agreement(session, agreement_id, consumer_agency, datetime.now(UTC))


# --- 2-4. records --------------------------------------------------------------------------------


class ReaderSchemaMissing(Conflict):
    code = "reader_schema_missing"
    title = "No reader schema"


SchemaSource = Callable[[int], Awaitable[Contract]]  # schema id -> contract, from the registry


class Undeliverable(Exception):
    """A record that cannot be delivered (not in the wire format, an unusable writer schema):
    it keeps its place with the reason instead of its value."""


class Deliverer:
    """One delivery under ``agreement``, the same for pull, stream, push and every sink: the
    agreement's reader schema, each record's writer schema, decoding and projection, rendering,
    counting and audit (the module docstring is the rule).

    Call :meth:`prepare` with a batch's records (it fetches the schemas they name), then
    :meth:`resolved` or :meth:`render` each record, in order, and :meth:`account` the batch.
    ``agreement`` None (a sink of the dataset's own agency) delivers every field, with each
    record's writer schema. ``schemas`` fetches a contract by id with the caller's credentials.
    """

    def __init__(
        self,
        schemas: SchemaSource,
        agreement: Agreement | None,
        *,
        channel: str,
        fmt: str = "json",
    ) -> None:
        self.schemas = schemas
        self.agreement = agreement
        self.channel = channel
        self.avro = fmt == "avro"
        self._writers: dict[int, Contract | str] = {}  # id → contract, or why it is unusable
        self._reader: Contract | None = None

    def under(self, agreement: Agreement | None) -> None:
        """Deliver under ``agreement`` as read again (the reader schema fetched again if it is
        another one); the writer schemas are kept."""
        old = None if self.agreement is None else self.agreement.reader_schema_id
        new = None if agreement is None else agreement.reader_schema_id
        if old != new:
            self._reader = None
        self.agreement = agreement

    async def prepare(self, records: Iterable[Any]) -> None:
        """Fetch the reader schema (first) and the writer schemas ``records`` name;
        :class:`ReaderSchemaMissing` if the agreement has none."""
        if self._reader is None and self.agreement is not None:
            if self.agreement.reader_schema_id is None:
                raise ReaderSchemaMissing(
                    f"agreement {self.agreement.id} has no derived reader schema"
                )
            self._reader = await self.schemas(self.agreement.reader_schema_id)
        for record in records:
            try:
                schema_id = schema_id_of(record.value or b"")
            except PayloadInvalid:
                continue
            if schema_id not in self._writers:
                self._writers[schema_id] = await self._writer(schema_id)

    async def _writer(self, schema_id: int) -> Contract | str:
        try:
            return await self.schemas(schema_id)
        except NdxpError as exc:
            # unknown or uncompilable: that record's problem; the registry away: the caller's
            if not isinstance(exc, UnusableContract) and exc.status >= 500:  # noqa: PLR2004
                raise
            log.warning("records with schema id %s cannot be delivered: %s", schema_id, exc)
            return f"schema id {schema_id} is not usable: {exc.message}"

    @staticmethod
    def envelope(record: Any) -> dict[str, Any]:
        """What every delivered record says besides its value: place, key, event id, headers
        (the writer's schema id left out: it is not the consumer's schema)."""
        return _envelope(record)

    def resolved(self, record: Any) -> tuple[Any, Contract]:
        """The record's value as the consumer may see it, and the schema it is in (the reader
        schema; the writer's without an agreement); :class:`Undeliverable` if it cannot be."""
        payload = record.value or b""
        try:
            writer = self._writer_of(payload)
            reader = self._reader
            return decode(payload, writer, reader), reader or writer
        except (PayloadInvalid, RecordInvalid) as exc:
            raise Undeliverable(exc.message) from exc

    def render(self, record: Any) -> bytes:
        """The delivered form of one record (prepared before), as UTF-8 JSON."""
        out = _envelope(record, timestamp=_iso(record.timestamp))
        if self.avro:
            reader = self._reader
            assert reader is not None  # noqa: S101 - prepare() comes first
            out["schema_id"] = reader.schema_id
        try:
            value, schema = self.resolved(record)
            if self.avro:
                out["value"] = base64.b64encode(encode(schema, value)).decode()
            else:
                out["value"] = to_json(schema, value)
        except (Undeliverable, RecordInvalid) as exc:
            out["value"] = None
            out["error"] = {"code": "undeliverable", "detail": str(exc)}
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()

    def _writer_of(self, payload: bytes) -> Contract:
        schema_id = schema_id_of(payload)
        writer = self._writers.get(schema_id)
        if writer is None:
            raise Undeliverable(f"schema id {schema_id} was not prepared")
        if isinstance(writer, str):
            raise Undeliverable(writer)
        return writer

    def traced(
        self, records: Sequence[Any], about: Mapping[str, str], *, root: bool = False
    ) -> contextlib.AbstractContextManager[Span | None]:
        """The ``deliver <topic>`` span (traces on) a batch of ``records`` is delivered within,
        linked to the ``publish`` spans their ``traceparent`` headers name, with the ``about``
        attributes: a child of the current span, or with ``root`` (a stream's batches) a trace
        of its own."""
        if not records:
            return contextlib.nullcontext()
        attributes = dict(about)
        agreement = self.agreement
        if agreement is not None:
            attributes |= {
                "ndxp.dataset": agreement.dataset_id,
                "ndxp.agreement": agreement.id,
                "ndxp.provider": agreement.provider_agency,
                "ndxp.consumer": agreement.consumer_agency,
            }
        topic = records[0].topic
        return span(
            f"deliver {topic}",
            kind=SpanKind.CONSUMER,
            root=root,
            links=record_links(records),
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": len(records),
                "ndxp.channel": self.channel,
                **attributes,
            },
        )

    def observe_lag(self, records: Iterable[Any]) -> None:
        """``ndxp_delivery_lag_seconds`` of records being handed to the consumer now."""
        if self.agreement is None:
            return
        now = time.time()
        agreement = self.agreement
        histogram = DELIVERY_LAG.labels(
            agreement.consumer_agency, agreement.dataset_id, self.channel
        )
        for record in records:
            histogram.observe(max(0.0, now - published_at(record)))

    async def account(
        self,
        auditor: AuditTrail | None,
        batch: Delivered,
        *,
        actor: tuple[str, str],
        details: Mapping[str, Any],
    ) -> None:
        """Count a delivered batch and audit it, ``actor`` (agency, client) delivering it
        (nothing for an empty batch, or without an agreement: then nothing was shared)."""
        agreement = self.agreement
        if not batch or agreement is None:
            return
        provider, consumer = agreement.provider_agency, agreement.consumer_agency
        dataset = agreement.dataset_id
        count_delivered(provider, consumer, dataset, self.channel, events=len(batch),
                        size=batch.size)  # fmt: skip
        if auditor is None:
            return
        await auditor.record(
            AuditEvent(
                "deliver",
                actor[0],
                actor[1],
                dataset=dataset,
                agreement=agreement.id,
                provider=provider,
                consumer=consumer,
                records=len(batch),
                bytes=batch.size,
                offsets=dict(batch.offsets),
                details={"channel": self.channel, **details},
            )
        )


def ordered(fetched: Mapping[Any, list[Any]]) -> list[Any]:
    """A fetch's records in one list, partition by partition, each in its partition's order."""
    return [record for tp in sorted(fetched, key=lambda tp: tp.partition) for record in fetched[tp]]


def _envelope(record: Any, **after_offset: Any) -> dict[str, Any]:
    """:meth:`Deliverer.envelope`, with ``after_offset`` in its place among the fields (a
    rendered record's ``timestamp``): one dict per record on the hot path, not a copy."""
    headers = decode_headers(record.headers)
    headers.pop(SCHEMA_ID, None)
    return {
        "partition": record.partition,
        "offset": record.offset,
        **after_offset,
        "key": None if record.key is None else record.key.decode("utf-8", errors="replace"),
        "event_id": headers.get(EVENT_ID),
        "headers": headers,
    }


def _iso(timestamp_ms: int) -> str:
    return utc_millis(datetime.fromtimestamp(timestamp_ms / 1000, UTC))


def published_at(record: Any) -> float:
    """When the record was published, in seconds since the epoch: its ``ndxp-published-at``
    header (ISO-8601 or epoch milliseconds) if it has a readable one, else its Kafka timestamp."""
    for name, value in record.headers or ():
        if name == PUBLISHED_AT and value:
            text = value.decode("ascii", errors="replace")
            try:
                if text.isdigit():
                    return int(text) / 1000
                return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                break
    return float(record.timestamp) / 1000


# --- accounting ------------------------------------------------------------------------------


@dataclass
class Delivered:
    """A batch as delivered: the records' JSON, their offsets by partition, count and size."""

    parts: list[bytes] = field(default_factory=list)
    offsets: dict[int, list[int]] = field(default_factory=dict)  # partition → [first, last]
    count: int = 0
    size: int = 0

    def add(self, partition: int, offset: int, part: bytes) -> None:
        self.parts.append(part)
        self.note(partition, offset, len(part))

    def note(self, partition: int, offset: int, size: int) -> None:
        """Count one delivered record of ``size`` bytes without keeping it."""
        self.count += 1
        self.size += size
        self._span(partition, offset, offset)

    def merge(self, other: Delivered) -> None:
        """Count ``other`` in this batch too (its parts are not kept)."""
        for partition, (first, last) in other.offsets.items():
            self._span(partition, first, last)
        self.count += other.count
        self.size += other.size

    def _span(self, partition: int, first: int, last: int) -> None:
        span = self.offsets.get(partition)
        if span is None:
            self.offsets[partition] = [first, last]
        else:
            span[1] = last

    def __len__(self) -> int:
        return self.count
