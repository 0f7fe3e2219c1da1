"""Publishing: ``POST /v1/datasets/{dataset}/events`` writes a batch of records, all or nothing.

The path of a request:

1. the caller holds ``publish`` and its agency owns the dataset (404 for a dataset it cannot see,
   403 for another agency's; ``admin`` does not stand in for ownership);
2. the body is read within its limits (``services.gateway.publish_body`` says what it may hold);
3. with an ``Idempotency-Key``, the key is claimed or its first answer replayed
   (``services.gateway.idempotency``);
4. every record is checked: JSON records are validated against the contract (the latest version,
   or ``schema_version``) and encoded in Confluent's wire format; raw Avro records must carry the
   id of a version of the dataset's subject and decode with it. Any bad record: 422 listing each
   bad record's index and every error's JSON pointer (into the element as sent: ``/value/...``
   in an envelope) and reason; nothing is written;
5. the batch goes to the dataset's topic in one Kafka transaction (``services.gateway.publisher``)
   with the headers ``ndxp-event-id``, ``ndxp-producer`` (the agency), ``ndxp-schema-id``,
   ``ndxp-published-at`` (UTC, milliseconds; also the records' Kafka timestamp) and
   ``traceparent`` (the request's, when it is a valid W3C one, else a new trace);
6. 201 ``{"records", "schema_id", "offsets": [{"partition", "offset"}, ...]}`` in record order;
   the batch is counted (``ndxp_events_published_total``, bytes, duration) and audited.

Event ids: the envelope's ``event_id`` when given; else, with an ``Idempotency-Key``, a UUID
derived from the client, dataset, key and the record's index (a retry after an ambiguous 503 gives
the same ids); else a random UUID. Kafka down or slow: 503 with ``Retry-After``, the transaction
aborted. An audit record that cannot be written after the batch is committed is logged as an
error; the answer is still 201 (the batch is in Kafka: a retry would write it twice).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from services.core.audit import AuditEvent
from services.core.auth.principal import Principal
from services.core.avro.codec import (
    MAX_LISTED_RECORDS,
    BatchInvalid,
    Contract,
    FieldError,
    PayloadInvalid,
    decode,
    encode_many,
    schema_id_of,
    validate,
)
from services.core.config import GatewaySettings
from services.core.db.models import Dataset
from services.core.errors import BadRequest, Forbidden, NdxpError, PayloadTooLarge, Unavailable
from services.core.http.state import CoreState
from services.core.kafka.headers import EVENT_ID, PRODUCER, PUBLISHED_AT, SCHEMA_ID, TRACEPARENT
from services.core.sharing.metrics import PUBLISH_DURATION, count_published, count_rejected
from services.gateway.catalog import DatasetNotFound, load_dataset, visible_dataset
from services.gateway.contract_cache import ContractCache
from services.gateway.idempotency import IdempotencyKeys, check_key, request_hash
from services.gateway.metadata import subject_of, topic_of
from services.gateway.publish_body import Elements, Format, parse_avro, parse_json
from services.gateway.publisher import Outgoing, ProducerPool, Publisher
from services.gateway.resources import Catalogue

log = logging.getLogger(__name__)

CHANNEL: Final = "gateway"
RETRY_AFTER: Final = "5"
EVENT_NAMESPACE: Final = uuid.UUID("5d1f0c8e-7a51-4f3c-9a39-0b6f1e3c2a71")
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


class AuditTrail(Protocol):
    async def record(self, event: AuditEvent) -> str: ...


@dataclass(frozen=True)
class PublishState:
    """What the publish path holds for the gateway's lifetime."""

    catalogue: Catalogue
    contracts: ContractCache
    publisher: Publisher
    keys: IdempotencyKeys
    max_bytes: int
    max_records: int


@asynccontextmanager
async def publish_resources(
    core: CoreState, settings: GatewaySettings, catalogue: Catalogue
) -> AsyncIterator[PublishState]:
    """The producer pool (producers start on first use) and caches, closed after the gateway."""
    pool = ProducerPool(
        catalogue.kafka,
        catalogue.bootstrap,
        settings.publish_producers,
        transaction_timeout_ms=int(2 * settings.publish_timeout * 1000),
    )
    try:
        yield PublishState(
            catalogue,
            ContractCache(catalogue.registry),
            Publisher(pool, settings.publish_timeout),
            IdempotencyKeys(core.sessions, abandoned_after=max(60.0, 4 * settings.publish_timeout)),
            settings.publish_max_bytes,
            settings.publish_max_records,
        )
    finally:
        await pool.close()


@dataclass(frozen=True)
class Target:
    """The dataset being published to."""

    dataset: str
    owner: str
    topic: str
    subject: str


async def target(state: PublishState, principal: Principal, dataset_id: str) -> Target:
    """The dataset if ``principal``'s agency owns it: 404 if it may not see it, else 403."""
    async with state.catalogue.sessions() as session:
        found = await load_dataset(session, dataset_id)
    if found is None:
        raise DatasetNotFound(f"dataset {dataset_id!r} not found")
    dataset: Dataset = found[0]
    if dataset.agency_id != principal.agency:
        await visible_dataset(state.catalogue, principal, dataset_id)  # 404 if it may not see it
        count_rejected(dataset.id, "forbidden")
        raise Forbidden(
            f"dataset {dataset.id} belongs to agency {dataset.agency_id!r}; only it may publish"
        )
    return Target(dataset.id, dataset.agency_id, topic_of(dataset), subject_of(dataset))


@dataclass(frozen=True)
class PublishRequest:
    """A publish request as HTTP delivered it (its body already read within the limit)."""

    fmt: Format
    body: bytes
    schema_version: int | None = None
    idempotency_key: str | None = None
    traceparent: str | None = None
    auth: str | None = None  # passed to the registry, which sees the caller


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@contextmanager
def counted_rejections(dataset: str) -> Iterator[None]:
    """Count a refused request by reason; give a 503 its ``Retry-After``."""
    try:
        yield
    except NdxpError as exc:
        if isinstance(exc, Unavailable):
            exc.headers.setdefault("Retry-After", RETRY_AFTER)
        if isinstance(exc, BatchInvalid | PayloadInvalid):
            reason = "invalid"
        elif isinstance(exc, PayloadTooLarge):
            reason = "too_large"
        elif isinstance(exc, Unavailable):
            reason = "unavailable"
        else:
            reason = exc.code  # one of a fixed set of classes: bounded
        count_rejected(dataset, reason)
        raise


async def publish(
    state: PublishState,
    principal: Principal,
    to: Target,
    request: PublishRequest,
    audit: AuditTrail | None = None,
) -> Answer:
    """Validate, encode and write one batch (see the module docstring); the answer to give."""
    started = time.perf_counter()
    if request.fmt.is_avro and request.schema_version is not None:
        raise BadRequest("schema_version does not apply to raw Avro: each record names its schema")
    key = None if request.idempotency_key is None else check_key(request.idempotency_key)
    if key is not None:
        digest = request_hash(request.fmt.value, str(request.schema_version), request.body)
        replay = await state.keys.claim(principal.client_id, to.dataset, key, digest)
        if replay is not None:
            return Answer(replay.status, replay.body, replayed=True)
    try:
        batch, schema_ids = await _encoded(state, principal, to, request)
        placed = await state.publisher.send(to.topic, batch)
    except BaseException:
        if key is not None:
            await state.keys.release(principal.client_id, to.dataset, key)
        raise
    single = len(schema_ids) == 1
    body: dict[str, Any] = {
        "records": len(placed),
        "schema_id": schema_ids[0] if single else None,
        **({} if single else {"schema_ids": schema_ids}),
        "offsets": [{"partition": p, "offset": o} for p, o in placed],
    }
    if key is not None:
        await state.keys.complete(principal.client_id, to.dataset, key, 201, body)
    size = sum(map(len, batch.values))
    PUBLISH_DURATION.labels(to.dataset).observe(time.perf_counter() - started)
    count_published(to.owner, to.dataset, CHANNEL, events=len(placed), size=size)
    if audit is not None:
        await _audit(audit, principal, to, placed, size=size, schema_ids=schema_ids, key=key)
    return Answer(201, body)


async def _encoded(
    state: PublishState, principal: Principal, to: Target, request: PublishRequest
) -> tuple[Outgoing, list[int]]:
    """The batch as Kafka records, and the schema ids it is written with (in first use order)."""
    now = datetime.now(UTC)
    if request.fmt.is_avro:
        frames = parse_avro(request.body, request.fmt, state.max_records)
        values = frames.payloads
        ids = await _checked_frames(state.contracts, to.subject, values, request.auth)
        keys, given_ids = frames.keys, None
        schema_ids = list(dict.fromkeys(ids))
    else:
        elements = parse_json(request.body, request.fmt, state.max_records)
        contract = await state.contracts.version(to.subject, request.schema_version, request.auth)
        values = _encoded_values(contract, elements)
        keys, given_ids = elements.keys, elements.event_ids
        ids = None
        schema_ids = [contract.schema_id]
    event_ids = _event_ids(len(values), given_ids, principal, to, request.idempotency_key)
    common = [
        (PRODUCER, to.owner.encode()),
        (PUBLISHED_AT, f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z".encode()),
        (TRACEPARENT, _traceparent(request.traceparent).encode()),
    ]
    if ids is None:
        common.append((SCHEMA_ID, str(schema_ids[0]).encode()))
        headers = [[(EVENT_ID, event_id), *common] for event_id in event_ids]
    else:
        headers = [
            [(EVENT_ID, event_id), *common, (SCHEMA_ID, str(schema_id).encode())]
            for event_id, schema_id in zip(event_ids, ids, strict=True)
        ]
    timestamp_ms = int(now.timestamp() * 1000)
    return Outgoing(values, keys, headers, timestamp_ms), schema_ids


def _encoded_values(contract: Contract, elements: Elements) -> list[bytes]:
    """Every value encoded, or :class:`BatchInvalid` naming every bad element."""
    try:
        encoded = encode_many(contract, elements.values)
    except BatchInvalid as exc:
        raise _invalid(contract, elements, exc) from None
    if elements.errors:
        raise _invalid(contract, elements, None)
    return encoded


def _invalid(contract: Contract, elements: Elements, exc: BatchInvalid | None) -> BatchInvalid:
    """One :class:`BatchInvalid` for the values' errors (``exc``) and the envelopes' errors, with
    paths into the elements as sent."""
    listed: dict[int, list[FieldError]] = {}
    invalid = 0
    if exc is not None:
        invalid = exc.invalid_count
        for index, value_errors in exc.records:
            prefix = "/value" if index in elements.envelopes else ""
            listed[index] = [FieldError(prefix + e.path, e.reason) for e in value_errors]
    complete = exc is None or exc.invalid_count == len(exc.records)
    for index, errors in elements.errors.items():
        if index not in listed and (complete or not validate(contract, elements.values[index])):
            invalid += 1  # bad only for its envelope: not counted yet
        listed.setdefault(index, []).extend(errors)
    chosen = sorted(listed.items())[:MAX_LISTED_RECORDS]
    return BatchInvalid(chosen, invalid, len(elements.values))


async def _checked_frames(
    contracts: ContractCache, subject: str, payloads: list[bytes], auth: str | None
) -> list[int]:
    """Each raw record's schema id, once every record names a version of ``subject`` and decodes
    with it; else :class:`BatchInvalid` naming every bad one."""
    ids: list[int] = []
    bad: dict[int, str] = {}
    for index, payload in enumerate(payloads):
        try:
            ids.append(schema_id_of(payload))
        except PayloadInvalid as exc:
            ids.append(-1)
            bad[index] = exc.message
    writers: dict[int, Contract | str] = {}
    for schema_id in dict.fromkeys(ids):
        if schema_id < 0:
            continue
        if subject in await contracts.subjects_of(schema_id, auth):
            writers[schema_id] = await contracts.by_id(schema_id, auth)
        else:
            writers[schema_id] = f"schema id {schema_id} is not a version of {subject}"
    for index, (payload, schema_id) in enumerate(zip(payloads, ids, strict=True)):
        writer = writers.get(schema_id)
        if isinstance(writer, str):
            bad[index] = writer
        elif writer is not None:
            try:
                decode(payload, writer)
            except PayloadInvalid as exc:
                bad[index] = exc.message
    if bad:
        records = [(i, [FieldError("", reason)]) for i, reason in sorted(bad.items())]
        raise BatchInvalid(records[:MAX_LISTED_RECORDS], len(bad), len(payloads))
    return ids


def _event_ids(
    count: int,
    given: list[str | None] | None,
    principal: Principal,
    to: Target,
    idempotency_key: str | None,
) -> list[bytes]:
    if idempotency_key is not None:
        base = f"{principal.client_id}\n{to.dataset}\n{idempotency_key}\n"
        made = [str(uuid.uuid5(EVENT_NAMESPACE, f"{base}{i}")).encode() for i in range(count)]
    else:
        made = random_uuids(count)
    if given is not None:
        made = [m if g is None else g.encode() for m, g in zip(made, given, strict=True)]
    return made


def random_uuids(count: int) -> list[bytes]:
    """``count`` random (version 4) UUIDs as text, faster than ``uuid.uuid4()`` one by one."""
    raw = os.urandom(16 * count).hex()
    made = []
    for start in range(0, 32 * count, 32):
        h = raw[start : start + 32]
        variant = "89ab"[int(h[16], 16) & 3]
        made.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}".encode())
    return made


def _traceparent(given: str | None) -> str:
    """The caller's W3C ``traceparent`` when valid (passed on unchanged: the trace continues at
    the caller's span), else a new sampled trace."""
    if given is not None and _TRACEPARENT.fullmatch(given.strip()):
        return given.strip()
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


async def _audit(
    audit: AuditTrail,
    principal: Principal,
    to: Target,
    placed: list[tuple[int, int]],
    *,
    size: int,
    schema_ids: list[int],
    key: str | None,
) -> None:
    offsets: dict[int, list[int]] = {}
    for partition, offset in placed:
        span = offsets.setdefault(partition, [offset, offset])
        span[0], span[1] = min(span[0], offset), max(span[1], offset)
    event = AuditEvent(
        "publish",
        principal.agency,
        principal.client_id,
        dataset=to.dataset,
        provider=to.owner,
        records=len(placed),
        bytes=size,
        offsets=offsets,
        details={
            "schema_id": schema_ids[0] if len(schema_ids) == 1 else schema_ids,
            "idempotency_key": key,
        },
    )
    try:
        await audit.record(event)
    except Exception:  # the batch is committed: the answer must still be 201
        log.exception(
            "publish of %d records to %s is not in the audit trail", len(placed), to.dataset
        )
