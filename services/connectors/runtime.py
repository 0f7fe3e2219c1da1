"""Running one connector. A source: poll → map → transform → convert text to the contract's types
→ validate and encode → write → commit; a sink: :mod:`services.connectors.sink`.

Each connector is an asyncio task. A batch's good records go to the dataset topic with a
deterministic event id, its bad ones (unmappable, unconvertible, or not matching the contract) to
``ndxp.dlq.<connector>`` with the reason (``errors.tolerance`` ``all``, the default), and so
does a record larger than the topic's ``max.message.bytes`` (checked before sending,
``services.core.kafka.record_limits``: the broker never sees it, and the producer is not left
with a refused batch; should the broker refuse one anyway, its limit lowered within the minute
the limit is kept, the records producer is replaced, as after any error Kafka does not retry);
only when
Kafka acknowledged both is the source offset committed, so a crash repeats at most the uncommitted
batch, with the same event ids. With ``errors.tolerance`` ``none`` the first bad record fails the
connector and nothing of its batch is written. A plugin whose config is a
:class:`~services.connectors.text_values.TextValues` has its strings converted to the contract's
types first (:mod:`services.connectors.text_values`). Polls and writes that fail are retried with
exponential back-off; a connector that keeps failing is FAILED with the reason, and the other
connectors keep running.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.connectors.configs import ConnectorConfig
from services.connectors.credentials import RegistryAuth
from services.connectors.failures import (
    DLQ_RETENTION_MS,
    ConnectorFailed,
    Retry,
    canonical,
    dead_letter,
    event_id,
)
from services.connectors.metrics import RECORDS, set_status
from services.connectors.plugin import (
    Connector,
    Offset,
    SinkConnector,
    SourceConnector,
    SourceRecord,
)
from services.connectors.sink import run_sink
from services.connectors.store import TopicTable
from services.connectors.text_values import (
    Converter,
    TextValues,
    Unconvertible,
    text_converter,
)
from services.connectors.transforms import TransformError, Transforms
from services.core.audit import AuditLog
from services.core.avro.codec import Contract, RecordInvalid, encode
from services.core.avro.contract_cache import ContractCache, NoContract
from services.core.config import KafkaSettings
from services.core.errors import NdxpError, PayloadTooLarge
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.errors import fatal_reason
from services.core.kafka.headers import EVENT_ID, PRODUCER, PUBLISHED_AT, SCHEMA_ID, utc_millis
from services.core.kafka.producer import (
    RECYCLES,
    Record,
    create_producer,
    send_batch,
    start_producer,
)
from services.core.kafka.record_limits import DEFAULT_MAX_MESSAGE_BYTES, TopicLimits, record_size
from services.core.kafka.topics import dataset_topic, dlq_topic
from services.core.sharing.metrics import count_published

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Run:
    """One connector's task and what its status reports (``on_state`` publishes each change)."""

    name: str
    config: ConnectorConfig
    state: str = "UNASSIGNED"
    trace: str | None = None
    task: asyncio.Task[None] | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)
    on_state: Callable[[Run], None] | None = None
    target: str = "RUNNING"
    restart: Any = None  # the restart request this run answers

    def set_state(self, state: str, trace: str | None = None) -> None:
        self.state, self.trace = state, trace
        set_status(self.name, state)
        if self.on_state is not None:
            self.on_state(self)


@dataclass
class Runtime:
    """What every connector task shares: Kafka, the offsets table, the registry and the control
    plane (agreements and the audit trail, for sinks)."""

    producer: AIOKafkaProducer
    offsets: TopicTable
    contracts: ContractCache
    registry_auth: RegistryAuth
    retry: Retry
    worker_id: str
    kafka: KafkaSettings
    sessions: async_sessionmaker[AsyncSession]
    audit: AuditLog | None = None
    limits: TopicLimits | None = None  # None: read with ``kafka``

    def __post_init__(self) -> None:
        self._limits = self.limits or TopicLimits(self.kafka)
        self._recycling = asyncio.Lock()

    async def recycle(self, broken: AIOKafkaProducer, reason: str) -> None:
        """Replace ``broken`` (the records producer until now) after an error that leaves it
        unusable; once, however many tasks saw it fail."""
        async with self._recycling:
            if self.producer is not broken:
                return
            self.producer = await start_producer(create_producer(self.kafka))
        RECYCLES.labels(reason).inc()
        log.warning("connect's records producer recycled: %s", reason)
        try:
            await broken.stop()
        except Exception:
            log.warning("a discarded Kafka producer did not stop cleanly", exc_info=True)

    async def run(self, run: Run) -> None:
        """The task body: runs until cancelled, or until the connector fails."""
        cfg = run.config
        plugin: Connector | None = None
        try:
            plugin = cfg.cls(run.name, cfg.settings)
            dlq = TopicSpec(dlq_topic(run.name), retention_ms=DLQ_RETENTION_MS)
            await self.retry("creating the DLQ topic", lambda: ensure_topic(self.kafka, dlq))
            await self.retry(f"starting the {plugin.kind}", plugin.start)
            if isinstance(plugin, SourceConnector):
                contract = await self.retry("fetching the contract", partial(self.contract, cfg))
                convert = None
                if isinstance(cfg.settings, TextValues):
                    convert = text_converter(contract.root, cfg.settings)
                await self.loop(run, plugin, contract, convert)
            else:
                assert isinstance(plugin, SinkConnector)  # noqa: S101 - the two kinds
                await run_sink(self, run, plugin)
        except ConnectorFailed as exc:
            log.error("connector %s failed: %s", run.name, exc)  # noqa: TRY400 - reason in status
            run.set_state("FAILED", "".join(traceback.format_exception(exc)))
        except Exception as exc:  # a bug, or a failure nothing retried: FAILED, never a zombie
            log.exception("connector %s crashed", run.name)
            run.set_state("FAILED", "".join(traceback.format_exception(exc)))
        finally:
            if plugin is not None:
                await plugin.stop()

    async def contract(self, cfg: ConnectorConfig) -> Contract:
        """The latest contract of the connector's dataset (major version 1) from the registry."""
        subject = f"{dataset_topic(cfg.agency, cfg.dataset)}-value"
        try:
            return await self.registry_auth.call(partial(self.contracts.version, subject, None))
        except NoContract as exc:
            raise ConnectorFailed(f"the registry has no contract {subject!r}") from exc

    async def loop(
        self, run: Run, plugin: SourceConnector, contract: Contract, convert: Converter | None
    ) -> None:
        topic = dataset_topic(run.config.agency, run.config.dataset)
        # another worker may have run it until a moment ago
        await self.retry("reading the committed offset", self.offsets.sync)
        offset: Offset | None = self.offsets.get(run.name)
        while True:
            await run.running.wait()
            batch = await self.retry("polling the source", partial(plugin.poll, offset))
            if batch.records:
                await self.write(run, contract, topic, batch.records, convert)
            if batch.offset != offset and batch.offset is not None:
                committed = batch.offset
                await self.retry(
                    "committing the offset", partial(self.offsets.put, run.name, committed)
                )
                offset = committed
            if not batch.more:
                await asyncio.sleep(plugin.poll_interval)

    async def write(
        self,
        run: Run,
        contract: Contract,
        topic: str,
        records: Any,
        convert: Converter | None = None,
    ) -> None:
        good: list[Record] = []
        sources: list[SourceRecord] = []  # of each good record
        bad: list[Record] = []
        published = utc_millis(datetime.now(UTC)).encode()
        common = [
            (PRODUCER, f"connector:{run.name}".encode()),
            (PUBLISHED_AT, published),
            (SCHEMA_ID, str(contract.schema_id).encode()),
        ]
        transforms = run.config.transforms
        for each in records:
            record = transformed(transforms, each) if transforms else each
            if convert is not None:
                record = converted(convert, record)
            payload, reason = self.encode(contract, record)
            if reason is not None:
                if run.config.tolerance == "none":
                    raise ConnectorFailed(
                        f"record at {canonical(record.position)} is invalid and "
                        f"errors.tolerance is none: {reason}"
                    )
                bad.append(self.dead_letter(run.name, record, reason))
                continue
            assert payload is not None  # noqa: S101 - encode returns one or the other
            key = record.key.encode() if record.key is not None else None
            headers = [(EVENT_ID, event_id(run.name, record.position).encode()), *common]
            good.append(Record(key, payload, headers))
            sources.append(record)

        async def send() -> tuple[list[Record], list[Record]]:
            fitting, too_large = await self.fit(run, topic, good, sources)
            producer = self.producer
            try:
                await asyncio.gather(
                    send_batch(producer, topic, fitting),
                    send_batch(producer, dlq_topic(run.name), [*bad, *too_large]),
                )
            except (NdxpError, KafkaError) as exc:
                if isinstance(exc, PayloadTooLarge):
                    self._limits.forget(topic)  # lowered since it was read: read it again
                if reason := fatal_reason(exc):
                    await self.recycle(producer, reason)
                raise
            return fitting, too_large

        written, too_large = await self.retry("writing to Kafka", send)
        RECORDS.labels(run.name, "written").inc(len(written))
        RECORDS.labels(run.name, "dead_lettered").inc(len(bad) + len(too_large))
        if written:
            size = sum(len(r.value or b"") for r in written)
            count_published(
                run.config.agency, run.config.dataset, "connector", events=len(written), size=size
            )

    async def fit(
        self, run: Run, topic: str, good: list[Record], sources: list[SourceRecord]
    ) -> tuple[list[Record], list[Record]]:
        """``good`` split into the records the topic takes and DLQ records for the others."""
        found, limit = await self._limits.oversized(
            topic, [(r.key, r.value, r.headers) for r in good]
        )
        if not found:
            return good, []
        if run.config.tolerance == "none":
            index, size = found[0]
            raise ConnectorFailed(
                f"record at {canonical(sources[index].position)} is {size} bytes, more than "
                f"{topic} takes ({limit}), and errors.tolerance is none"
            )
        dlq_limit = await self._limits.max_bytes(dlq_topic(run.name)) or DEFAULT_MAX_MESSAGE_BYTES
        too_large: list[Record] = []
        for index, size in found:
            reason = (
                f"the record is {size} bytes as a Kafka record; {topic} takes at most {limit} "
                "(max.message.bytes)"
            )
            letter = self.dead_letter(run.name, sources[index], reason)
            if record_size(letter.key, letter.value, letter.headers) > dlq_limit:
                letter = letter._replace(value=b"null")  # too large for the DLQ too: reason only
            too_large.append(letter)
        oversized = dict(found)
        return [r for i, r in enumerate(good) if i not in oversized], too_large

    @staticmethod
    def encode(contract: Contract, record: SourceRecord) -> tuple[bytes | None, str | None]:
        if record.error is not None or record.value is None:
            return None, record.error or "the source row could not be mapped"
        try:
            return encode(contract, record.value), None
        except RecordInvalid as exc:
            reasons = "; ".join(f"{e.path or '/'}: {e.reason}" for e in exc.field_errors)
            return None, f"does not match the contract: {reasons}"
        except NdxpError as exc:
            return None, exc.message

    @staticmethod
    def dead_letter(connector: str, record: SourceRecord, reason: str) -> Record:
        # JSON null when the row had no value: Kafka refuses a record without key and value
        value = canonical(record.value).encode()
        return dead_letter(
            connector,
            reason,
            canonical(record.position),
            event_id(connector, record.position),
            key=record.key,
            value=value,
        )


def converted(convert: Converter, record: SourceRecord) -> SourceRecord:
    """``record`` with its text converted to the contract's types, or a DLQ record saying which
    fields could not be (its value as the transforms left it, as for any contract mismatch)."""
    if record.value is None or record.error is not None:
        return record
    try:
        return replace(record, value=convert(record.value))
    except Unconvertible as exc:
        return replace(record, error=f"cannot convert to the contract's types: {exc}")


def transformed(transforms: Transforms, record: SourceRecord) -> SourceRecord:
    """``record`` through the connector's transforms; a failure makes it a DLQ record."""
    if record.value is None or record.error is not None:
        return record
    try:
        value, key = transforms.apply(record.value, record.key)
    except TransformError as exc:
        # value None: the DLQ must not hold what a hash or mask was there to hide
        return replace(record, value=None, error=f"transform failed: {exc}")
    return replace(record, value=value, key=key)
