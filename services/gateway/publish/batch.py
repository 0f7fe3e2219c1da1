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
``Idempotency-Key`` claim around the writer's transaction (:class:`KeyLedger`, which core's
``EventWriter.publish`` tells before the commit, after it, or of a failure): the route makes one
call down to core and gets one answer back.
"""

from __future__ import annotations

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
from services.core.events.transactions import Placed, Publisher
from services.core.events.writer import EventWriter, Writer
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


@asynccontextmanager
async def publish_resources(
    core: CoreState, settings: GatewaySettings, backends: Backends, pool: ProducerPool
) -> AsyncIterator[PublishState]:
    """The publisher over the gateway's producer ``pool`` (closed with it) and the caches, closed
    after the gateway."""
    limits = TopicLimits(backends.kafka, backends.bootstrap)
    publisher = Publisher(pool, settings.publish_timeout, limits)
    outcome = KafkaOutcome(
        backends.kafka, backends.bootstrap, 2 * settings.publish_timeout, pool.size
    )
    keys = IdempotencyKeys(  # a key's owner is the pool: a taker can fence all its producers
        core.sessions, outcome, renew_for=max(60.0, 4 * settings.publish_timeout), owner=pool.prefix
    )
    writer = EventWriter(
        ContractCache(backends.registry), publisher, max_records=settings.publish_max_records
    )
    state = PublishState(backends, writer, publisher, keys, settings.publish_max_bytes)
    async with core.sessions() as session:  # every dataset's refusal counters from the start
        known_datasets(await session.scalars(select(Dataset.id)))
    try:
        yield state
    finally:  # batches whose requests went away finish first
        await writer.close(drain=3 * settings.publish_timeout)
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
    who = Writer(principal.agency, principal.client_id, CHANNEL)
    details = {"idempotency_key": key}
    ledger: KeyLedger | None = None
    if key is not None:
        digest = request_hash(request.fmt.value, str(request.schema_version), request.body)
        replay = await state.keys.claim(
            principal.client_id, to.dataset, key, digest, topic=to.topic
        )
        if replay is not None:
            if replay.recovered:  # its owner died before counting and auditing it
                placed = [(int(o["partition"]), int(o["offset"])) for o in replay.body["offsets"]]
                await state.writer.recount(to, who, request, placed, details=details, audit=audit)
            return Answer(replay.status, replay.body, replayed=True)
        ledger = KeyLedger(state.keys, principal.client_id, to.dataset, key)
    written = await state.writer.publish(
        to, who, request, ledger=ledger, details=details, audit=audit, started=started
    )
    return Answer(201, _answer(written.placed, written.schema_ids))


@dataclass(frozen=True)
class KeyLedger:
    """A batch's ``Idempotency-Key`` claim, kept beside the writer's transaction: the intent
    before the commit, the answer after it, released (or abandoned, if the commit's outcome is
    unknown) on failure."""

    keys: IdempotencyKeys
    client_id: str
    dataset: str
    key: str

    async def intend(self, transactional_id: str, placed: Placed, schema_ids: list[int]) -> bool:
        body = _answer(placed, schema_ids)
        return await self.keys.intend(
            self.client_id, self.dataset, self.key, transactional_id, body
        )

    async def written(self, placed: Placed, schema_ids: list[int]) -> None:
        try:
            await self.keys.complete(
                self.client_id, self.dataset, self.key, 201, _answer(placed, schema_ids)
            )
        except Exception:  # written: still 201; a retry takes over and finds it committed
            log.exception("the answer for Idempotency-Key %r could not be stored", self.key)

    async def failed(self, *, committed_maybe: bool) -> None:
        give_up = self.keys.abandon if committed_maybe else self.keys.release
        try:
            await give_up(self.client_id, self.dataset, self.key)
        except Exception:  # a failure to give it up must not hide the first one: it lapses
            log.exception("Idempotency-Key %r could not be released", self.key)


def _answer(placed: Placed, schema_ids: list[int]) -> dict[str, Any]:
    """The 201 body: records, schema id(s) and every record's offset, in record order."""
    single = len(schema_ids) == 1
    return {
        "records": len(placed),
        "schema_id": schema_ids[0] if single else None,
        **({} if single else {"schema_ids": schema_ids}),
        "offsets": [{"partition": p, "offset": o} for p, o in placed],
    }
