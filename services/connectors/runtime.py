"""Running one connector. A source: poll → map → transform → convert text to the contract's types
→ validate and encode → write → commit; a sink: :mod:`services.connectors.sink`.

Each connector is an asyncio task. A batch's good records go to the dataset topic with a
deterministic event id through core's :class:`~services.core.events.writer.EventWriter`, as the
gateway's publish route writes them: the same standard headers (``ndxp-producer`` the dataset's
agency, ``ndxp-connector`` the connector, a ``traceparent`` per batch), with connect's
idempotent producer (no transaction: the commit is the source offset,
:mod:`services.core.events.direct`), counted under ``dataset="<agency>.<dataset>"`` and
audited. Its bad ones (unmappable, unconvertible, or not matching the contract) to
``ndxp.dlq.<connector>`` with the reason (``errors.tolerance`` ``all``, the default), and so
does a record larger than the topic's ``max.message.bytes`` (checked before sending,
``services.core.kafka.record_limits``: the broker never sees it, and the producer is not left
with a refused batch; should the broker refuse one anyway, its limit lowered within the minute
the limit is kept, the writer's producer is replaced, as after any error Kafka does not retry);
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
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Final, TypeVar

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
from services.connectors.metrics import RECORDS, SOURCE_LAG, set_status
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
from services.core.errors import NdxpError
from services.core.events.encode import Target
from services.core.events.transactions import Outgoing, Placed, outgoing
from services.core.events.writer import (
    EventWriter,
    Writer,
    dataset_target,
    records_of,
    size_of,
)
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.producer import Record
from services.core.kafka.record_limits import DEFAULT_MAX_MESSAGE_BYTES, record_size
from services.core.kafka.topics import dataset_topic, dlq_topic

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL: Final = "connector"
BACKLOG_EVERY: Final = 5.0  # seconds between counts of what a source has yet to give


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
    """What every connector task shares: the event writer (Kafka, the contracts, the audit
    trail), the offsets table, the registry and the control plane (agreements, for sinks)."""

    writer: EventWriter
    offsets: TopicTable
    registry_auth: RegistryAuth
    retry: Retry
    worker_id: str
    kafka: KafkaSettings
    sessions: async_sessionmaker[AsyncSession]
    audit: AuditLog | None = None

    @property
    def contracts(self) -> ContractCache:
        return self.writer.contracts

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
        measured = float("-inf")
        while True:
            await run.running.wait()
            if time.monotonic() - measured >= BACKLOG_EVERY:
                measured = time.monotonic()
                await measure_backlog(run.name, plugin, offset)
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
        """Write one polled batch within the writer's ``publish`` span (traces on), whose context
        its records' ``traceparent`` carries."""
        cfg = run.config
        to = dataset_target(cfg.agency, cfg.dataset, topic, f"{topic}-value")
        who = Writer(cfg.agency, f"connector:{run.name}", CHANNEL)
        with self.writer.publishing(to, who):
            await self._write(run, contract, (to, who), records, convert)

    async def _write(
        self,
        run: Run,
        contract: Contract,
        target: tuple[Target, Writer],
        records: Any,
        convert: Converter | None,
    ) -> None:
        to, who = target
        values: list[bytes] = []
        keys: list[bytes | None] = []
        event_ids: list[bytes] = []
        sources: list[SourceRecord] = []  # of each good record
        bad: list[Record] = []
        topic = to.topic
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
            values.append(payload)
            keys.append(record.key.encode() if record.key is not None else None)
            event_ids.append(event_id(run.name, record.position).encode())
            sources.append(record)
        # one traceparent and one time for the batch, kept across retries
        good = self.writer.batch(to, values, keys, event_ids, schema_id=contract.schema_id,
                                 connector=run.name)  # fmt: skip

        async def send() -> tuple[Outgoing, list[Record], Placed]:
            fitting, too_large = await self.fit(run, topic, good, sources)
            # The source's offset is committed only once both are acknowledged.
            placed, _ = await asyncio.gather(
                self.writer.send(topic, fitting),
                self.writer.send(dlq_topic(run.name), outgoing([*bad, *too_large])),
            )
            return fitting, too_large, placed

        written, too_large, placed = await self.retry("writing to Kafka", send)
        RECORDS.labels(run.name, "written").inc(len(written.values))
        RECORDS.labels(run.name, "dead_lettered").inc(len(bad) + len(too_large))
        await self.writer.account(
            to,
            who,
            placed,
            size=size_of(written),
            details={"schema_id": contract.schema_id, "connector": run.name},
        )

    async def fit(
        self, run: Run, topic: str, good: Outgoing, sources: list[SourceRecord]
    ) -> tuple[Outgoing, list[Record]]:
        """``good`` split into the records the topic takes and DLQ records for the others."""
        found, limit = await self.writer.limits.oversized(topic, records_of(good))
        if not found:
            return good, []
        if run.config.tolerance == "none":
            index, size = found[0]
            raise ConnectorFailed(
                f"record at {canonical(sources[index].position)} is {size} bytes, more than "
                f"{topic} takes ({limit}), and errors.tolerance is none"
            )
        dlq_limit = (
            await self.writer.limits.max_bytes(dlq_topic(run.name)) or DEFAULT_MAX_MESSAGE_BYTES
        )
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
        return without(good, oversized), too_large

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


async def measure_backlog(name: str, plugin: SourceConnector, offset: Offset | None) -> None:
    """``ndxp_connector_source_lag_records`` of a source that can tell; a failure to count is
    logged, never fatal (polls report the source's own failures)."""
    try:
        behind = await plugin.backlog(offset)
    except Exception:
        log.warning("connector %s: its backlog could not be counted", name, exc_info=True)
        return
    if behind is not None:
        SOURCE_LAG.labels(name).set(behind)


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


def without(batch: Outgoing, dropped: dict[int, int]) -> Outgoing:
    """``batch`` without the records at the indexes of ``dropped``."""
    keep = [i for i in range(len(batch.values)) if i not in dropped]
    keys = None if batch.keys is None else [batch.keys[i] for i in keep]
    return replace(
        batch,
        values=[batch.values[i] for i in keep],
        keys=keys,
        headers=[batch.headers[i] for i in keep],
    )
