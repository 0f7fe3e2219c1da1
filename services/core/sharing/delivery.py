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
lag observed, and audited (:func:`account`).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.core.audit import AuditEvent, AuditLog
from services.core.auth.principal import Principal
from services.core.avro.codec import (
    Contract,
    PayloadInvalid,
    RecordInvalid,
    decode,
    encode,
    schema_id_of,
    to_json,
)
from services.core.avro.contract_cache import ContractCache, UnusableContract
from services.core.db.models import Agreement, Subscription
from services.core.errors import Conflict, NotFound
from services.core.kafka.headers import (
    EVENT_ID,
    PUBLISHED_AT,
    SCHEMA_ID,
    decode_headers,
    utc_millis,
)
from services.core.sharing.agreements import active_agreement
from services.core.sharing.metrics import DELIVERY_LAG, count_delivered

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


class Renderer:
    """Turns one subscription's records into what its consumer may receive, under ``agreement``.

    Call :meth:`prepare` with a batch's records (it fetches the schemas they name), then
    :meth:`render` each record, in order.
    """

    def __init__(
        self, contracts: ContractCache, agreement: Agreement, fmt: str, auth: str | None
    ) -> None:
        self.contracts = contracts
        self.auth = auth
        self.avro = fmt == "avro"
        self.reader_schema_id = agreement.reader_schema_id
        self._writers: dict[int, Contract | str] = {}  # id → contract, or why it is unusable
        self._reader: Contract | None = None

    async def prepare(self, records: Iterable[Any]) -> None:
        """Fetch the reader schema (first) and the writer schemas ``records`` name."""
        if self._reader is None:
            if self.reader_schema_id is None:
                raise ReaderSchemaMissing("the agreement has no derived reader schema")
            self._reader = await self.contracts.by_id(self.reader_schema_id, self.auth)
        for record in records:
            try:
                schema_id = schema_id_of(record.value or b"")
            except PayloadInvalid:
                continue
            if schema_id not in self._writers:
                self._writers[schema_id] = await self._writer(schema_id)

    async def _writer(self, schema_id: int) -> Contract | str:
        try:
            return await self.contracts.by_id(schema_id, self.auth)
        except (NotFound, UnusableContract) as exc:
            log.warning("records with schema id %s cannot be delivered: %s", schema_id, exc)
            return f"schema id {schema_id} is not usable: {exc}"

    def render(self, record: Any) -> bytes:
        """The delivered form of one record (prepared before), as UTF-8 JSON."""
        reader = self._reader
        assert reader is not None  # noqa: S101 - prepare() comes first
        headers = decode_headers(record.headers)
        headers.pop(SCHEMA_ID, None)
        out: dict[str, Any] = {
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": _iso(record.timestamp),
            "key": None if record.key is None else record.key.decode("utf-8", errors="replace"),
            "event_id": headers.get(EVENT_ID),
            "headers": headers,
        }
        if self.avro:
            out["schema_id"] = reader.schema_id
        try:
            value = decode(record.value or b"", self._writer_of(record.value or b""), reader)
            if self.avro:
                out["value"] = base64.b64encode(encode(reader, value)).decode()
            else:
                out["value"] = to_json(reader, value)
        except (PayloadInvalid, RecordInvalid, _Undeliverable) as exc:
            out["value"] = None
            out["error"] = {"code": "undeliverable", "detail": str(exc)}
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()

    def _writer_of(self, payload: bytes) -> Contract:
        schema_id = schema_id_of(payload)
        writer = self._writers.get(schema_id)
        if writer is None:
            raise _Undeliverable(f"schema id {schema_id} was not prepared")
        if isinstance(writer, str):
            raise _Undeliverable(writer)
        return writer


class _Undeliverable(Exception):
    pass


def ordered(fetched: Mapping[Any, list[Any]]) -> list[Any]:
    """A fetch's records in one list, partition by partition, each in its partition's order."""
    return [record for tp in sorted(fetched, key=lambda tp: tp.partition) for record in fetched[tp]]


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
        self.count += 1
        self.size += len(part)
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


def observe_lag(subscription: Subscription, channel: str, records: Iterable[Any]) -> None:
    """``ndxp_delivery_lag_seconds`` of records being handed to a consumer now."""
    now = time.time()
    histogram = DELIVERY_LAG.labels(subscription.dataset_id, channel)
    for record in records:
        histogram.observe(max(0.0, now - published_at(record)))


async def account(
    auditor: AuditLog,
    principal: Principal,
    subscription: Subscription,
    *,
    agreement: Agreement,
    channel: str,
    batch: Delivered,
) -> None:
    """Count and audit a delivered batch (nothing for an empty one)."""
    if not batch:
        return
    provider = agreement.provider_agency
    count_delivered(
        provider,
        subscription.consumer_agency,
        subscription.dataset_id,
        channel,
        events=len(batch),
        size=batch.size,
    )
    await auditor.record(
        AuditEvent(
            "deliver",
            principal.agency,
            principal.client_id,
            dataset=subscription.dataset_id,
            agreement=agreement.id,
            provider=provider,
            consumer=subscription.consumer_agency,
            records=len(batch),
            bytes=batch.size,
            offsets=dict(batch.offsets),
            details={"channel": channel, "subscription": subscription.id},
        )
    )
