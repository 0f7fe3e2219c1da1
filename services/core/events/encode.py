"""A publish request's records as Kafka records: validated, encoded and given their headers.

JSON records are validated against the contract and encoded in Confluent's wire format
(``services.core.avro.codec``); a bad record anywhere fails the batch with every bad record's
index, and each error's JSON pointer into the element as sent (``/value/...`` in an envelope).
Raw Avro records must name a schema id registered under the dataset's subject and decode with it.

Headers (:func:`event_headers`, the same for every source connector): ``ndxp-event-id`` (the
envelope's ``event_id``; else, with an ``Idempotency-Key``, a UUID derived from the client,
dataset, key and the record's index, so a retry after an ambiguous 503 repeats the ids; else a
random UUID), ``ndxp-producer`` (the owner agency; a connector adds ``ndxp-connector``),
``ndxp-schema-id``, ``ndxp-published-at`` (UTC, milliseconds; also the records' Kafka timestamp)
and ``traceparent`` (the one given when it is a valid W3C one, passed on unchanged so the trace
continues at that span: with traces on, the writer's ``publish`` span, else the request's; else a
new trace).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

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
from services.core.avro.contract_cache import ContractCache
from services.core.events.body import Elements, Format, parse_avro, parse_json
from services.core.events.transactions import Outgoing
from services.core.kafka.headers import (
    CONNECTOR,
    EVENT_ID,
    PRODUCER,
    PUBLISHED_AT,
    SCHEMA_ID,
    TRACEPARENT,
    Headers,
    utc_millis,
)

EVENT_NAMESPACE: Final = uuid.UUID("5d1f0c8e-7a51-4f3c-9a39-0b6f1e3c2a71")
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


@dataclass(frozen=True)
class Target:
    """The dataset being published to."""

    dataset: str
    owner: str
    topic: str
    subject: str


@dataclass(frozen=True)
class PublishRequest:
    """A publish request as HTTP delivered it (its body already read within the limit)."""

    fmt: Format
    body: bytes
    schema_version: int | None = None
    idempotency_key: str | None = None
    traceparent: str | None = None
    auth: str | None = None  # passed to the registry, which sees the caller


async def encoded_batch(
    contracts: ContractCache,
    to: Target,
    request: PublishRequest,
    *,
    client_id: str,
    max_records: int,
) -> tuple[Outgoing, list[int]]:
    """The batch as Kafka records, and the schema ids it is written with (in first use order)."""
    now = datetime.now(UTC)
    if request.fmt.is_avro:
        frames = parse_avro(request.body, request.fmt, max_records)
        values = frames.payloads
        ids = await _checked_frames(contracts, to.subject, values, request.auth)
        keys, given_ids = frames.keys, None
        schema_ids = list(dict.fromkeys(ids))
    else:
        elements = parse_json(request.body, request.fmt, max_records)
        contract = await contracts.version(to.subject, request.schema_version, request.auth)
        values = _encoded_values(contract, elements)
        keys, given_ids = elements.keys, elements.event_ids
        ids = None
        schema_ids = [contract.schema_id]
    event_ids = _event_ids(len(values), given_ids, client_id, to, request.idempotency_key)
    headers = event_headers(
        event_ids,
        producer=to.owner,
        schema_ids=schema_ids[0] if ids is None else ids,
        published_at=now,
        traceparent=request.traceparent,
    )
    timestamp_ms = int(now.timestamp() * 1000)
    return Outgoing(values, keys, headers, timestamp_ms), schema_ids


def event_headers(
    event_ids: Sequence[bytes],
    *,
    producer: str,
    schema_ids: int | Sequence[int],
    published_at: datetime,
    traceparent: str | None = None,
    connector: str | None = None,
) -> list[Headers]:
    """Every event's standard headers, the same on every path that writes events.

    ``producer`` is the agency that owns the dataset; a connector names itself in
    ``ndxp-connector``. ``traceparent`` is the caller's when it is a valid W3C one (the trace
    continues at the caller's span), else one new trace for the whole batch. ``schema_ids``: the
    batch's one schema id, or each record's.
    """
    common: Headers = [
        (PRODUCER, producer.encode()),
        (PUBLISHED_AT, utc_millis(published_at).encode()),
        (TRACEPARENT, _traceparent(traceparent).encode()),
    ]
    if connector is not None:
        common.append((CONNECTOR, connector.encode()))
    if isinstance(schema_ids, int):
        common.append((SCHEMA_ID, str(schema_ids).encode()))
        return [[(EVENT_ID, event_id), *common] for event_id in event_ids]
    return [
        [(EVENT_ID, event_id), *common, (SCHEMA_ID, str(schema_id).encode())]
        for event_id, schema_id in zip(event_ids, schema_ids, strict=True)
    ]


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
    client_id: str,
    to: Target,
    idempotency_key: str | None,
) -> list[bytes]:
    if idempotency_key is not None:
        base = f"{client_id}\n{to.dataset}\n{idempotency_key}\n"
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
