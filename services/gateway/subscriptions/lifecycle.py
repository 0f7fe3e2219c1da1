"""Subscriptions: a consumer agency's cursor on a dataset under an agreement.

A subscription is a row (who, which agreement and dataset, its name and delivery format) and a
Kafka consumer group ``ndxp.sub.<id>`` holding its position, committed at creation to where it
starts, so that any gateway replica can serve it (:mod:`services.gateway.subscriptions.consumers`).

Where it starts (``start``, on creation and on reset): ``"earliest"`` (everything the topic still
keeps), ``"latest"`` (only what comes next; the default), an ISO-8601 time with an offset (the
first record at or after it on each partition; the end where there is none), or ``{"offsets":
{"<partition>": <offset>}}`` (each within what the partition keeps; partitions not named keep
their position, or start at the end on creation). A reset is replay within retention: it moves the
position and bumps the epoch, so cursors handed out before it are refused.

Only the consumer agency sees and manages its subscriptions (scope ``subscribe``); creating or
resetting one needs its agreement to be active. Everything is audited.

A push subscription (``"push": {"url": ...}``) is delivered by a connector of connect instead of
by pulls and streams: :mod:`services.gateway.subscriptions.push`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Annotated, Any, Literal

import anyio
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.core.audit import AuditEvent, AuditLog
from services.core.auth.principal import Principal
from services.core.bounded_json import Int64
from services.core.db.models import Agreement, Dataset, Subscription
from services.core.errors import Conflict, NotFound, Unprocessable
from services.core.kafka.topics import dataset_topic
from services.core.metrics import forget
from services.core.sharing.delivery import Deliverer, ReaderSchemaMissing, check_agreement
from services.core.sharing.metrics import SUBSCRIPTION_LAG
from services.gateway.subscriptions import push
from services.gateway.subscriptions.consumers import Committed, SubscriptionConsumer, delete_group
from services.gateway.subscriptions.push import ConfigsWriter, PushIn
from services.gateway.subscriptions.subscribe import Subscribe

log = logging.getLogger(__name__)

GROUP_PREFIX = "ndxp.sub."
FIRST_EPOCH = 1


class OffsetsStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    offsets: dict[Annotated[Int64, Field(ge=0)], Annotated[Int64, Field(ge=0)]] = Field(
        min_length=1
    )


Start = Literal["earliest", "latest"] | AwareDatetime | OffsetsStart
Name = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    name: Name
    format: Literal["json", "avro"] = "json"
    start: Start = "latest"
    push: PushIn | None = None


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Start


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"


class SubscriptionExists(Conflict):
    code = "subscription_exists"


class OffsetOutOfRange(Unprocessable):
    code = "offset_out_of_range"


# --- loading ------------------------------------------------------------------------------------


async def load(
    sub: Subscribe, principal: Principal, subscription_id: str, *, refuse_push: str | None = None
) -> tuple[Subscription, str]:
    """The caller's subscription and its topic; 404 for another agency's, as for none. With
    ``refuse_push`` (what is asked: "pulls", "a reset"...), 409 for a push subscription."""
    async with sub.sessions() as session:
        found = await session.get(Subscription, subscription_id)
        if found is None or found.consumer_agency != principal.agency:
            raise SubscriptionNotFound(f"subscription {subscription_id} does not exist")
        dataset = await session.get(Dataset, found.dataset_id)
    if dataset is None:  # the foreign key forbids it; a hand-edited control plane does not
        raise SubscriptionNotFound(f"the dataset of subscription {subscription_id} is gone")
    if refuse_push is not None:
        push.refuse(found, refuse_push)
    return found, topic_of(dataset)


async def open_delivery(
    sub: Subscribe,
    principal: Principal,
    subscription_id: str,
    what: str,
    auth: str | None,
    *,
    channel: str,
) -> tuple[Subscription, str, Deliverer]:
    """What a pull or a stream starts with: the subscription (not a push one), its topic and a
    deliverer under its agreement (active now), holding the reader schema, before anything is
    read."""
    found, topic = await load(sub, principal, subscription_id, refuse_push=what)
    agreement = await check_agreement(sub.sessions, found.agreement_id, principal.agency)
    deliverer = Deliverer(
        partial(sub.contracts.by_id, auth=auth), agreement, channel=channel, fmt=found.format
    )
    await deliverer.prepare(())
    return found, topic, deliverer


def topic_of(dataset: Dataset) -> str:
    return dataset_topic(dataset.agency_id, dataset.name, dataset.major_version)


def document(found: Subscription) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "agreement": found.agreement_id,
        "dataset": found.dataset_id,
        "format": found.format,
        "group_id": found.group_id,
        "push": push.document(found),
        "created_by": found.created_by,
        "created_at": found.created_at.isoformat(),
    }


def position_document(committed: Committed, ends: Mapping[int, int]) -> dict[str, Any]:
    """Where the subscription stands. Its ``lag`` is in offsets (markers included), read at
    once; ``ndxp_subscription_lag_records`` counts records (:mod:`.lag`)."""
    partitions = [
        {"partition": p, "committed": o, "end": ends.get(p, o), "lag": max(0, ends.get(p, o) - o)}
        for p, o in sorted(committed.offsets.items())
    ]
    return {
        "epoch": committed.epoch,
        "lag": offset_lag(committed, ends),
        "partitions": partitions,
    }


def lag_labels(found: Subscription) -> tuple[str, str, str, str]:
    """Its series of ``ndxp_subscription_lag_records``: consumer, dataset, id and kind (``pull``
    for pulls and streams, ``push``)."""
    kind = "pull" if found.push_url is None else "push"
    return found.consumer_agency, found.dataset_id, found.id, kind


def offset_lag(committed: Committed, ends: Mapping[int, int]) -> int:
    """The offsets between the subscription's position and the ends, every partition summed."""
    return sum(max(0, ends.get(p, o) - o) for p, o in committed.offsets.items())


# --- start positions -----------------------------------------------------------------------------


async def resolve_start(
    consumer: SubscriptionConsumer, start: Start, keep: Mapping[int, int] | None
) -> dict[int, int]:
    """The offsets ``start`` means on every partition; ``keep``: the current position (reset)."""
    if not isinstance(start, OffsetsStart):
        return await consumer.start_at(start)
    ends = await consumer.ends()
    beginnings = await consumer.beginnings()
    offsets = dict(ends if keep is None else keep)
    for partition, offset in start.offsets.items():
        if partition not in ends:
            raise OffsetOutOfRange(f"the dataset's topic has no partition {partition}")
        if not beginnings[partition] <= offset <= ends[partition]:
            raise OffsetOutOfRange(
                f"offset {offset} on partition {partition} is outside what it keeps: "
                f"{beginnings[partition]} to {ends[partition]}"
            )
        offsets[partition] = offset
    return offsets


def _start_text(start: Start) -> Any:
    if isinstance(start, datetime):
        return start.isoformat()
    if isinstance(start, OffsetsStart):
        return {"offsets": {str(p): o for p, o in start.offsets.items()}}
    return start


# --- create, list, read, reset, delete ------------------------------------------------------------


async def create(
    sub: Subscribe,
    principal: Principal,
    data: SubscriptionIn,
    auditor: AuditLog,
    connect: ConfigsWriter,
) -> dict[str, Any]:
    if data.push is not None:
        connect.check_destination(data.push.url)
    agreement = await check_agreement(sub.sessions, data.agreement, principal.agency)
    if agreement.reader_schema_id is None:  # approval registers it: a hand-made row has none
        raise ReaderSchemaMissing("the agreement has no derived reader schema")
    async with sub.sessions() as session:
        dataset = await session.get(Dataset, agreement.dataset_id)
        taken = await session.scalar(
            select(Subscription.id).where(
                Subscription.consumer_agency == principal.agency, Subscription.name == data.name
            )
        )
        held = await session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.consumer_agency == principal.agency)
        )
    if dataset is None:
        raise NotFound(f"dataset {agreement.dataset_id} does not exist")
    if taken is not None:
        raise SubscriptionExists(f"agency {principal.agency!r} has a subscription {data.name!r}")
    sub.limits.check_subscriptions(principal.agency, held or 0)

    subscription_id = str(uuid.uuid4())
    # A push subscription's place is its connector's consumer group: where it starts now is
    # where the connector starts.
    group_id = push.group_of(subscription_id) if data.push else GROUP_PREFIX + subscription_id
    async with sub.pool.use(subscription_id, topic_of(dataset), group_id) as consumer:
        offsets = await resolve_start(consumer, data.start, None)
        await consumer.commit(offsets, FIRST_EPOCH)
        ends = await consumer.ends()
    row = Subscription(
        id=subscription_id,
        agreement_id=agreement.id,
        consumer_agency=principal.agency,
        dataset_id=dataset.id,
        name=data.name,
        group_id=group_id,
        format=data.format,
        created_by=principal.client_id,
        push_url=data.push.url if data.push else None,
    )
    try:
        async with sub.sessions.begin() as session:
            session.add(row)
            await session.flush()
            await session.refresh(row)
    except IntegrityError as exc:
        await _forget(sub, subscription_id, group_id)
        raise SubscriptionExists(
            f"agency {principal.agency!r} has a subscription {data.name!r}"
        ) from exc
    pushed = None
    audit = partial(
        _audit,
        auditor,
        "subscription.create",
        principal,
        row,
        agreement,
        offsets=offsets,
        start=data.start,
    )
    if row.push_url is None:
        await audit()
    else:
        try:
            pushed = await push.start_connector(connect, row, dataset, agreement)
            await audit()  # a connector nobody holds the secret of must not outlive a failure
        except BaseException:  # no connector: no subscription either, nothing left behind
            with anyio.CancelScope(shield=True):
                await push.forget_connector(connect, row)
                await _undo(sub, row)
            raise
    log.info("subscription %s (%s) created by %s", row.id, row.name, principal.client_id)
    committed = Committed(offsets, FIRST_EPOCH)
    created = {**document(row), "position": position_document(committed, ends)}
    if pushed is not None:
        created["push"] = pushed  # the signing secret: in this answer only
    return created


async def _undo(sub: Subscribe, row: Subscription) -> None:
    async with sub.sessions.begin() as session:
        found = await session.get(Subscription, row.id)
        if found is not None:
            await session.delete(found)
    await _forget(sub, row.id, row.group_id)
    log.warning("subscription %s (%s) undone: its connector was not written", row.id, row.name)


async def list_all(sub: Subscribe, principal: Principal) -> list[dict[str, Any]]:
    async with sub.sessions() as session:
        rows = await session.scalars(
            select(Subscription)
            .where(Subscription.consumer_agency == principal.agency)
            .order_by(Subscription.created_at, Subscription.id)
        )
        return [document(row) for row in rows]


async def read(sub: Subscribe, principal: Principal, subscription_id: str) -> dict[str, Any]:
    """The subscription with its position: committed offsets, ends and lag, by partition."""
    found, topic = await load(sub, principal, subscription_id)
    async with sub.pool.use(found.id, topic, found.group_id) as consumer:
        await consumer.refresh()
        committed = await consumer.committed()
        ends = await consumer.ends()
    return {**document(found), "position": position_document(committed, ends)}


async def reset(
    sub: Subscribe,
    principal: Principal,
    subscription_id: str,
    data: ResetIn,
    auditor: AuditLog,
) -> dict[str, Any]:
    # the connector of a push subscription, a member of its group, owns its offsets
    found, topic = await load(sub, principal, subscription_id, refuse_push="a reset")
    agreement = await check_agreement(sub.sessions, found.agreement_id, principal.agency)
    async with sub.pool.use(found.id, topic, found.group_id) as consumer:
        await consumer.refresh()
        current = await consumer.committed()
        offsets = await resolve_start(consumer, data.start, current.offsets)
        committed = Committed(offsets, current.epoch + 1)
        await consumer.commit(offsets, committed.epoch)
        consumer.handed_out = None
        ends = await consumer.ends()
    await _audit(
        auditor,
        "subscription.reset",
        principal,
        found,
        agreement,
        offsets=offsets,
        start=data.start,
    )
    return {**document(found), "position": position_document(committed, ends)}


async def delete(
    sub: Subscribe,
    principal: Principal,
    subscription_id: str,
    auditor: AuditLog,
    connect: ConfigsWriter,
) -> None:
    found, _ = await load(sub, principal, subscription_id)
    if found.push_url is not None:
        # The connector first: should that fail (503) the subscription is still there to delete
        # again, never a connector delivering for a subscription that is gone.
        await push.stop_connector(connect, found)
    async with sub.sessions.begin() as session:
        row = await session.get(Subscription, found.id)
        if row is not None:
            await session.delete(row)
        agreement = await session.get(Agreement, found.agreement_id)
    await _forget(sub, found.id, found.group_id)
    forget(SUBSCRIPTION_LAG, *lag_labels(found))  # (measured by another replica, or not yet)
    if agreement is not None:  # the foreign key keeps it
        await _audit(auditor, "subscription.delete", principal, found, agreement)


async def _forget(sub: Subscribe, subscription_id: str, group_id: str) -> None:
    await sub.pool.discard(subscription_id)
    await delete_group(sub.kafka, sub.bootstrap, group_id)


async def _audit(
    auditor: AuditLog,
    action: str,
    principal: Principal,
    found: Subscription,
    agreement: Agreement,
    *,
    offsets: Mapping[int, int] | None = None,
    start: Start | None = None,
) -> None:
    details: dict[str, Any] = {"subscription": found.id, "name": found.name}
    if found.push_url is not None:
        details["push"] = push.document(found)
    if start is not None:
        details["start"] = _start_text(start)
    if offsets is not None:
        details["position"] = {str(p): o for p, o in sorted(offsets.items())}
    await auditor.record(
        AuditEvent(
            action,
            principal.agency,
            principal.client_id,
            dataset=found.dataset_id,
            agreement=agreement.id,
            provider=agreement.provider_agency,
            consumer=found.consumer_agency,
            details=details,
        )
    )
