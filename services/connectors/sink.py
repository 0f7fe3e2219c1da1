"""Running one sink connector: consume → decode and project → transform → put → DLQ → commit.

The connector consumes its dataset's topic in its own consumer group (``ndxp-connect-<name>``,
:func:`~services.core.kafka.topics.connector_group`), so it resumes where it left off on any
worker. On its first run the group has no committed offsets: the sink commits its ``start``
(``latest``, the default, ``earliest`` or a time) as the group's offsets before joining it
(:func:`~services.core.kafka.positions.place_new_group`), so a restart before the first delivery
does not move it. A push subscription's connector finds the offsets the gateway committed when
the subscription was created (from the subscription's own ``start``) and continues from them.

Each record is decoded with its writer's schema (the id in its wire-format header, fetched from
the registry once) and, when the connector delivers under an agreement (the ``agreement`` config
key), resolved to the agreement's derived reader schema, by the same
:class:`~services.core.sharing.delivery.Deliverer` as the gateway's pull and stream: fields the
agreement does not grant, personal data included, never reach the plugin. The agreement is
checked before every batch; once it is revoked or expired the connector stops with FAILED and the
reason, its offsets left where delivery stopped.

A batch goes to :meth:`~services.connectors.plugin.SinkConnector.put`; a failure of the whole
batch is retried with back-off (the target may be down), then fails the connector. Records that
cannot be decoded or transformed, and those the plugin rejected, go to ``ndxp.dlq.<connector>``.
With ``errors.tolerance`` ``none`` the first such record fails the connector instead, its batch
not committed. Only then are the consumer offsets committed, so a crash delivers a batch again,
never loses one (records carry their event id, and the webhook's delivery id, for receivers to
drop repeats). Deliveries under an agreement are counted in the sharing metrics and audited, as
the gateway's are. With traces on, each batch is delivered within a ``deliver <topic>`` span
linked to the ``publish`` spans of its records (:mod:`services.core.tracing`); a plugin's own
spans are inside it, and the webhook sends its context on as ``traceparent``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from services.connectors.failures import ConnectorFailed, canonical, dead_letter
from services.connectors.metrics import RECORDS
from services.connectors.plugin import SinkConnector, SinkRecord
from services.connectors.transforms import TransformError, Transforms
from services.core.avro.codec import to_json
from services.core.config import KafkaSettings
from services.core.db.models import Agreement
from services.core.events.transactions import outgoing
from services.core.kafka.admin import admin_client
from services.core.kafka.consumer import create_consumer
from services.core.kafka.positions import place_new_group
from services.core.kafka.topics import connector_group, dataset_topic, dlq_topic
from services.core.sharing.agreements import AgreementInactive, effective_state
from services.core.sharing.delivery import (
    Delivered,
    Deliverer,
    ReaderSchemaMissing,
    Undeliverable,
    ordered,
)

if TYPE_CHECKING:
    from services.connectors.runtime import Run, Runtime

log = logging.getLogger(__name__)

BATCH: Final = 500
FETCH_MS: Final = 500
CHANNEL: Final = "connector"


async def run_sink(runtime: Runtime, run: Run, plugin: SinkConnector) -> None:
    cfg = run.config
    topic = dataset_topic(cfg.agency, cfg.dataset)
    # A plugin's own batch_size may mean something else (records per webhook request): fetch at
    # least BATCH records per put, more when the plugin takes bigger batches.
    batch_size = max(BATCH, int(getattr(plugin.config, "batch_size", BATCH) or BATCH))
    consumer = create_consumer(
        runtime.kafka, topic, group_id=connector_group(run.name), max_poll_records=batch_size
    )
    try:
        await runtime.retry(
            "placing a new consumer group at its start",
            partial(place_new_group, runtime.kafka, topic, connector_group(run.name), cfg.start),
        )
        await runtime.retry("joining the consumer group", consumer.start)
        sink = _Sink(runtime, run, plugin, consumer)
        # An agreement revoked while the connector was away fails it now, not at the next record.
        await runtime.retry("checking the agreement", sink.agreement)
        while True:
            await run.running.wait()
            fetched = await runtime.retry(
                "fetching records",
                partial(consumer.getmany, timeout_ms=FETCH_MS, max_records=batch_size),
            )
            records = ordered(fetched)
            if records:
                await sink.deliver(records)
    finally:
        await consumer.stop()


async def sink_offsets(settings: KafkaSettings, connector: str) -> list[dict[str, Any]]:
    """A sink's committed offsets, in Kafka Connect's form for sinks."""
    async with admin_client(settings) as admin:
        committed = await admin.list_consumer_group_offsets(connector_group(connector))
    return [
        {
            "partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
            "offset": {"kafka_offset": meta.offset},
        }
        for tp, meta in sorted(
            committed.items(), key=lambda item: (item[0].topic, item[0].partition)
        )
        if meta.offset >= 0
    ]


class _Sink:
    def __init__(
        self, runtime: Runtime, run: Run, plugin: SinkConnector, consumer: AIOKafkaConsumer
    ) -> None:
        self.runtime, self.run, self.plugin, self.consumer = runtime, run, plugin, consumer
        self.transforms: Transforms = run.config.transforms
        self.deliverer: Deliverer | None = None  # under the agreement last checked

    async def deliver(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        agreement = await self.runtime.retry("checking the agreement", self.agreement)
        deliverer = self.delivering(agreement)
        with deliverer.traced(records, {"ndxp.connector": self.run.name}):
            await self.delivered(deliverer, records)

    async def delivered(
        self, deliverer: Deliverer, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """Deliver, dead-letter, commit, then count and audit one batch."""
        await self.runtime.retry("fetching the schemas", partial(self.prepare, deliverer, records))
        good, bad = self.decoded(deliverer, records)
        self.tolerate(bad)
        rejected = await self.runtime.retry("delivering to the target", lambda: self.put(good))
        refused = {id(each.record) for each in rejected}
        bad += [(each.record, each.reason) for each in rejected]
        self.tolerate(bad)
        await self.runtime.retry("writing to the DLQ", lambda: self.dead_letter(bad))
        await self.runtime.retry("committing offsets", self.consumer.commit)
        delivered = [record for record in good if id(record) not in refused]
        placed = {(record.partition, record.offset) for record in delivered}
        deliverer.observe_lag(r for r in records if (r.partition, r.offset) in placed)
        RECORDS.labels(self.run.name, "delivered").inc(len(delivered))
        RECORDS.labels(self.run.name, "dead_lettered").inc(len(bad))
        if delivered:
            try:
                await self.account(deliverer, delivered)
            except Exception:  # delivered and committed: the failure is logged, delivery goes on
                log.exception(
                    "connector %s: delivery of %d records not audited",
                    self.run.name,
                    len(delivered),
                )

    def delivering(self, agreement: Agreement | None) -> Deliverer:
        """The connector's deliverer, under the agreement as read for this batch."""
        if self.deliverer is None:
            auth, contracts = self.runtime.registry_auth, self.runtime.contracts
            self.deliverer = Deliverer(
                lambda schema_id: auth.call(partial(contracts.by_id, schema_id)),
                agreement,
                channel=CHANNEL,
            )
        self.deliverer.under(agreement)
        return self.deliverer

    @staticmethod
    async def prepare(
        deliverer: Deliverer, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> None:
        try:
            await deliverer.prepare(records)
        except ReaderSchemaMissing as exc:
            raise ConnectorFailed(exc.message) from exc

    def decoded(
        self, deliverer: Deliverer, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> tuple[list[SinkRecord], list[tuple[SinkRecord, str]]]:
        """The records as the plugin receives them, and those that cannot be (with why)."""
        good: list[SinkRecord] = []
        bad: list[tuple[SinkRecord, str]] = []
        for message in records:
            record = self.sink_record(deliverer, message)
            if record.error is not None:
                bad.append((record, record.error))
            else:
                good.append(record)
        return good, bad

    def tolerate(self, bad: list[tuple[SinkRecord, str]]) -> None:
        """Fail the connector on a bad record when ``errors.tolerance`` is ``none``."""
        if bad and self.run.config.tolerance == "none":
            record, reason = bad[0]
            raise ConnectorFailed(
                f"record at {record.topic}/{record.partition}/{record.offset} cannot be delivered "
                f"and errors.tolerance is none: {reason}"
            )

    async def put(self, records: list[SinkRecord]) -> Sequence[Any]:
        if not records:
            return ()
        return await self.plugin.put(records)

    # --- the agreement and the schemas -----------------------------------------------------

    async def agreement(self) -> Agreement | None:
        agreement_id = self.run.config.agreement
        if agreement_id is None:
            return None
        async with self.runtime.sessions() as session:
            found = await session.get(Agreement, agreement_id, populate_existing=True)
        dataset = f"{self.run.config.agency}.{self.run.config.dataset}"
        state = None if found is None else effective_state(found, datetime.now(UTC))
        if found is None or found.dataset_id != dataset:
            raise ConnectorFailed(f"agreement {agreement_id} does not cover {dataset}")
        if state != "active":
            reason = AgreementInactive(f"agreement {agreement_id} is {state}").message
            raise ConnectorFailed(f"{reason}: nothing more is delivered under it")
        return found

    # --- records ---------------------------------------------------------------------------

    def sink_record(
        self, deliverer: Deliverer, message: ConsumerRecord[bytes, bytes]
    ) -> SinkRecord:
        base: dict[str, Any] = {
            "topic": message.topic,
            "timestamp": message.timestamp,
            **deliverer.envelope(message),
        }
        try:
            value, schema = deliverer.resolved(message)
            as_json = to_json(schema, value)
        except Undeliverable as exc:
            return SinkRecord(**base, value=None, json=None, error=str(exc))
        if self.transforms:
            try:
                value, key = self.transforms.apply(value, base["key"])
                as_json, _ = self.transforms.apply(as_json, base["key"])
            except TransformError as exc:
                return SinkRecord(**base, value=None, json=None, error=f"transform failed: {exc}")
            base["key"] = key
        return SinkRecord(**base, value=value, json=as_json)

    async def dead_letter(self, bad: list[tuple[SinkRecord, str]]) -> None:
        if not bad:
            return
        out = [
            dead_letter(
                self.run.name,
                reason,
                canonical({"topic": r.topic, "partition": r.partition, "offset": r.offset}),
                r.event_id,
                key=r.key,
                value=_dlq_value(r),
            )
            for r, reason in bad
        ]
        await self.runtime.writer.send(dlq_topic(self.run.name), outgoing(out))

    async def account(self, deliverer: Deliverer, delivered: list[SinkRecord]) -> None:
        if deliverer.agreement is None:
            return  # the agency's own dataset: nothing was shared
        batch = Delivered()
        for r in delivered:
            size = len(json.dumps(r.json, separators=(",", ":")).encode())
            batch.note(r.partition, r.offset, size)
        actor = (deliverer.agreement.consumer_agency, f"connector:{self.run.name}")
        await deliverer.account(self.runtime.audit, batch, actor=actor,
                                details={"connector": self.run.name})  # fmt: skip


def _dlq_value(record: SinkRecord) -> bytes | None:
    """What a DLQ record of a sink holds: the delivered JSON form, never more than was granted."""
    if record.json is None:
        return None
    return json.dumps(record.json, separators=(",", ":"), ensure_ascii=False).encode()
