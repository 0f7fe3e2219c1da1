"""Publishing: ``POST /v1/datasets/{dataset}/events`` writes a batch of records, all or nothing.

The path of a request:

1. the caller holds ``publish`` and its agency owns the dataset (404 for a dataset it cannot see,
   403 for another agency's; ``admin`` does not stand in for ownership);
2. the body is read within its limits (``services.core.events.body`` says what it may hold);
3. with an ``Idempotency-Key``, the key is claimed or its first answer replayed
   (``services.gateway.publish.idempotency``);
4. every record is checked against the contract (the latest version, or ``schema_version``) and
   encoded, with its headers, by core's :class:`~services.core.events.writer.EventWriter` (the
   one every source connector uses too); any bad record: 422 listing
   every bad record, and nothing is written; a record larger than the topic's
   ``max.message.bytes``: 413 ``record_too_large`` naming its index, size and the limit
   (``services.core.kafka.record_limits``), and nothing is written;
5. the writer sends the batch to the dataset's topic in a Kafka transaction
   (``services.core.events.transactions``): all of it or none of it is ever visible to
   read_committed consumers;
6. 201 ``{"records", "schema_id", "offsets": [{"partition", "offset"}, ...]}`` in record order
   (a raw Avro batch written with several schema ids has ``"schema_id": null`` and
   ``"schema_ids"``); the writer counts the batch (``ndxp_events_published_total``, bytes,
   duration) and audits it before the answer.

Kafka down or slow: 503 with ``Retry-After``, the transaction aborted. Once a batch may be
written, the request finishes its work (answer stored for its key, counted, audited) even if the
client goes away. An audit record that cannot be written after the batch is committed is logged as
an error; the answer is still 201 (the batch is in Kafka: a retry would write it twice).

This module keeps what is the gateway's own: who may publish to which dataset, and the
``Idempotency-Key`` leases around the writer's transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from services.core.audit import AuditTrail
from services.core.auth.principal import Principal
from services.core.avro.codec import BatchInvalid, PayloadInvalid
from services.core.avro.contract_cache import ContractCache
from services.core.config import GatewaySettings
from services.core.db.models import Dataset
from services.core.errors import BadRequest, Forbidden, NdxpError, PayloadTooLarge, Unavailable
from services.core.events.encode import PublishRequest, Target
from services.core.events.transactions import BeforeCommit, Outgoing, Placed, Publisher
from services.core.events.writer import EventWriter, Writer, size_of
from services.core.http.state import CoreState
from services.core.kafka.producer_pool import ProducerPool
from services.core.kafka.record_limits import TopicLimits
from services.core.sharing.metrics import count_rejected, known_datasets
from services.core.ttlcache import TTLCache
from services.gateway.backends import Backends
from services.gateway.catalog.entries import DatasetNotFound, load_dataset, visible_dataset
from services.gateway.catalog.metadata import subject_of, topic_of
from services.gateway.publish.idempotency import IdempotencyKeys, check_key, request_hash
from services.gateway.publish.idempotency_kafka import KafkaOutcome

log = logging.getLogger(__name__)

CHANNEL: Final = "gateway"
RETRY_AFTER: Final = "5"
# Who owns a dataset and its topic are read from the control plane at most this often per process.
TARGET_SECONDS: Final = 2.0


@dataclass(frozen=True)
class PublishState:
    """What the publish path holds for the gateway's lifetime."""

    backends: Backends
    writer: EventWriter
    publisher: Publisher  # the writer's sender, whose producers push subscriptions borrow
    keys: IdempotencyKeys
    max_bytes: int
    targets: TTLCache[Target | None] = field(default_factory=lambda: TTLCache(TARGET_SECONDS))
    inflight: set[asyncio.Future[Answer]] = field(default_factory=set)


@asynccontextmanager
async def publish_resources(
    core: CoreState, settings: GatewaySettings, backends: Backends, pool: ProducerPool
) -> AsyncIterator[PublishState]:
    """The publisher over the gateway's producer ``pool`` (closed with it) and the caches, closed
    after the gateway."""
    limits = TopicLimits(backends.kafka, backends.bootstrap)
    publisher = Publisher(pool, settings.publish_timeout, limits)
    outcome = KafkaOutcome(backends.kafka, backends.bootstrap, 2 * settings.publish_timeout)
    keys = IdempotencyKeys(
        core.sessions, outcome, renew_for=max(60.0, 4 * settings.publish_timeout)
    )
    writer = EventWriter(
        ContractCache(backends.registry), publisher, max_records=settings.publish_max_records
    )
    state = PublishState(backends, writer, publisher, keys, settings.publish_max_bytes)
    async with core.sessions() as session:  # every dataset's refusal counters from the start
        known_datasets(await session.scalars(select(Dataset.id)))
    try:
        yield state
    finally:
        if state.inflight:  # batches whose requests went away: let them finish
            await asyncio.wait(state.inflight, timeout=3 * settings.publish_timeout)
        await writer.close()
        await keys.close()


async def target(state: PublishState, principal: Principal, dataset_id: str) -> Target:
    """The dataset if ``principal``'s agency owns it: 404 if it may not see it, else 403."""

    async def load() -> Target | None:
        async with state.backends.sessions() as session:
            found = await load_dataset(session, dataset_id)
        if found is None:
            return None
        dataset: Dataset = found[0]
        known_datasets((dataset.id,))
        return Target(dataset.id, dataset.agency_id, topic_of(dataset), subject_of(dataset))

    to = await state.targets.get(dataset_id, load)
    if to is None:
        state.targets.forget(dataset_id)  # an unknown id is not kept: it may be created next
        raise DatasetNotFound(f"dataset {dataset_id!r} not found")
    if to.owner != principal.agency:
        await visible_dataset(state.backends, principal, dataset_id)  # 404 if it may not see it
        count_rejected(to.dataset, "forbidden")
        raise Forbidden(f"dataset {to.dataset} belongs to agency {to.owner!r}; only it may publish")
    return to


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
    *,
    audit: AuditTrail | None = None,
    started: float | None = None,
) -> Answer:
    """Validate, encode and write one batch (see the module docstring); the answer to give.
    ``started`` is when the request arrived (``time.perf_counter()``), for the duration metric."""
    started = time.perf_counter() if started is None else started
    if request.fmt.is_avro and request.schema_version is not None:
        raise BadRequest("schema_version does not apply to raw Avro: each record names its schema")
    key = None if request.idempotency_key is None else check_key(request.idempotency_key)
    if key is not None:
        digest = request_hash(request.fmt.value, str(request.schema_version), request.body)
        replay = await state.keys.claim(
            principal.client_id, to.dataset, key, digest, topic=to.topic
        )
        if replay is not None:
            if replay.recovered:  # its owner died before counting and auditing it
                await _recovered(state, principal, to, request, replay.body, audit=audit)
            return Answer(replay.status, replay.body, replayed=True)
    try:
        batch, schema_ids = await state.writer.encoded(to, request, client_id=principal.client_id)
    except BaseException:
        await _release(state, principal, to, key)
        raise
    # From here the batch may be written: finish (answer stored, counted, audited) even if the
    # request is cancelled meanwhile, so that what Kafka holds is always accounted for.
    done = asyncio.ensure_future(
        _written(state, principal, to, batch, schema_ids, key=key, audit=audit, started=started)
    )
    state.inflight.add(done)
    done.add_done_callback(state.inflight.discard)
    return await asyncio.shield(done)


async def _written(
    state: PublishState,
    principal: Principal,
    to: Target,
    batch: Outgoing,
    schema_ids: list[int],
    *,
    key: str | None,
    audit: AuditTrail | None,
    started: float,
) -> Answer:
    intend: BeforeCommit | None = None
    intended = False  # once True, a failure may have followed a commit
    if key is not None:
        keyed = key

        async def intend(transactional_id: str, placed: Placed) -> bool:
            nonlocal intended
            body = _answer(placed, schema_ids)
            intended = await state.keys.intend(
                principal.client_id, to.dataset, keyed, transactional_id, body
            )
            return intended

    try:
        placed = await state.writer.send(to.topic, batch, intend)
    except BaseException:
        await _release(state, principal, to, key, committed_maybe=intended)
        raise
    body = _answer(placed, schema_ids)
    if key is not None:
        try:
            await state.keys.complete(principal.client_id, to.dataset, key, 201, body)
        except Exception:  # written: still 201; a retry takes over and finds it committed
            log.exception("the answer for Idempotency-Key %r could not be stored", key)
    await _account(state, principal, to, placed, size=size_of(batch), schema_ids=schema_ids,
                   key=key, audit=audit, started=started)  # fmt: skip
    return Answer(201, body)


async def _recovered(
    state: PublishState,
    principal: Principal,
    to: Target,
    request: PublishRequest,
    body: dict[str, Any],
    *,
    audit: AuditTrail | None,
) -> None:
    """Count and audit a batch a dead gateway committed (the retry carries the same records);
    the replay is answered whatever happens here."""
    try:
        batch, schema_ids = await state.writer.encoded(to, request, client_id=principal.client_id)
    except Exception:  # the batch is in Kafka: the answer must still be 201
        log.exception("a recovered publish to %s could not be counted or audited", to.dataset)
        return
    placed = [(int(o["partition"]), int(o["offset"])) for o in body["offsets"]]
    key = request.idempotency_key
    await _account(state, principal, to, placed, size=size_of(batch), schema_ids=schema_ids,
                   key=key, audit=audit, started=None)  # fmt: skip


def _answer(placed: Placed, schema_ids: list[int]) -> dict[str, Any]:
    """The 201 body: records, schema id(s) and every record's offset, in record order."""
    single = len(schema_ids) == 1
    return {
        "records": len(placed),
        "schema_id": schema_ids[0] if single else None,
        **({} if single else {"schema_ids": schema_ids}),
        "offsets": [{"partition": p, "offset": o} for p, o in placed],
    }


async def _release(
    state: PublishState,
    principal: Principal,
    to: Target,
    key: str | None,
    *,
    committed_maybe: bool = False,
) -> None:
    """Give the key up after a failure (abandon it, if its batch may have been committed); a
    failure to do so must not hide the first one."""
    if key is None:
        return
    give_up = state.keys.abandon if committed_maybe else state.keys.release
    try:
        await give_up(principal.client_id, to.dataset, key)
    except Exception:  # the claim lapses with its lease instead
        log.exception("Idempotency-Key %r could not be released", key)


async def _account(
    state: PublishState,
    principal: Principal,
    to: Target,
    placed: Placed,
    *,
    size: int,
    schema_ids: list[int],
    key: str | None,
    audit: AuditTrail | None,
    started: float | None,
) -> None:
    """Count and audit a written batch (through the writer: one place for every path)."""
    details = {"schema_id": schema_ids[0] if len(schema_ids) == 1 else schema_ids,
               "idempotency_key": key}  # fmt: skip
    who = Writer(principal.agency, principal.client_id, CHANNEL)
    await state.writer.account(
        to, who, placed, size=size, details=details, started=started, audit=audit
    )
