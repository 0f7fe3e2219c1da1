"""Running one source connector: poll → map → validate and encode → write → commit.

Each connector is an asyncio task. A batch's good records go to the dataset topic with a
deterministic event id, its bad ones (unmappable, or not matching the contract) to
``ndxp.dlq.<connector>`` with the reason; only when Kafka acknowledged both is the source offset
committed, so a crash repeats at most the uncommitted batch, with the same event ids. With
``errors.tolerance`` ``none`` the first bad record fails the connector and nothing of its batch is
written. Polls and writes that fail are retried with exponential back-off; a connector that keeps
failing is FAILED with the reason, and the other connectors keep running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, TypeVar

import httpx
from aiokafka import AIOKafkaProducer

from services.connectors.configs import ConnectorConfig
from services.connectors.metrics import RECORDS, set_status
from services.connectors.plugin import Offset, SourceConnector, SourceRecord
from services.connectors.store import TopicTable
from services.core.avro.codec import Contract, RecordInvalid, compile_contract, encode
from services.core.config import KafkaSettings
from services.core.errors import NdxpError
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.headers import EVENT_ID, PRODUCER, PUBLISHED_AT, SCHEMA_ID
from services.core.kafka.producer import Record, send_batch
from services.core.kafka.topics import dataset_topic, dlq_topic
from services.core.sharing.metrics import count_published

log = logging.getLogger(__name__)
T = TypeVar("T")

ERROR_HEADER: Final = "ndxp-error"
CONNECTOR_HEADER: Final = "ndxp-connector"
POSITION_HEADER: Final = "ndxp-source-position"
DLQ_RETENTION_MS: Final = 14 * 24 * 3600 * 1000  # two weeks to look at and replay bad rows
EVENT_NAMESPACE: Final = uuid.UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


class ConnectorFailed(Exception):
    """The connector cannot go on; its status says why."""


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def event_id(connector: str, position: Any) -> str:
    """The same source row through the same connector always gets the same event id."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{connector}\n{canonical(position)}"))


@dataclass
class Retry:
    attempts: int
    backoff: float

    async def __call__(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except (ConnectorFailed, asyncio.CancelledError):
                raise
            except Exception as exc:  # any failure of a source or of Kafka is retried
                if attempt == self.attempts:
                    raise ConnectorFailed(f"{what} failed {attempt} times: {exc}") from exc
                log.warning("%s failed (try %d), retrying in %.1fs: %s", what, attempt, delay, exc)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")


async def fetch_contract(
    http: httpx.AsyncClient, registry_url: str, agency: str, dataset: str
) -> Contract:
    """The latest contract of ``<agency>.<dataset>`` (major version 1) from the registry."""
    subject = f"{agency}.{dataset}.v1-value"
    response = await http.get(f"{registry_url.rstrip('/')}/subjects/{subject}/versions/latest")
    if response.status_code == 404:  # noqa: PLR2004
        raise ConnectorFailed(f"the registry has no contract {subject!r}")
    response.raise_for_status()
    body = response.json()
    return compile_contract(int(body["id"]), json.loads(body["schema"]))


@dataclass
class Run:
    """One connector's task and what its status reports."""

    name: str
    config: ConnectorConfig
    state: str = "UNASSIGNED"
    trace: str | None = None
    task: asyncio.Task[None] | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)

    def set_state(self, state: str, trace: str | None = None) -> None:
        self.state, self.trace = state, trace
        set_status(self.name, state)


@dataclass
class Runtime:
    """What every connector task shares: Kafka, the offsets table, the registry client."""

    producer: AIOKafkaProducer
    offsets: TopicTable
    http: httpx.AsyncClient
    registry_url: str
    retry: Retry
    worker_id: str
    kafka: KafkaSettings

    async def run(self, run: Run) -> None:
        """The task body: runs until cancelled, or until the connector fails."""
        cfg = run.config
        plugin = cfg.cls(run.name, cfg.settings)
        if not isinstance(plugin, SourceConnector):
            run.set_state("FAILED", f"{cfg.plugin} is a sink: this worker runs sources only")
            return
        try:
            contract = await self.retry(
                "fetching the contract",
                lambda: fetch_contract(self.http, self.registry_url, cfg.agency, cfg.dataset),
            )
            dlq = TopicSpec(dlq_topic(run.name), retention_ms=DLQ_RETENTION_MS)
            await self.retry("creating the DLQ topic", lambda: ensure_topic(self.kafka, dlq))
            await self.retry("starting the source", plugin.start)
            await self.loop(run, plugin, contract)
        except ConnectorFailed as exc:
            log.error("connector %s failed: %s", run.name, exc)  # noqa: TRY400 - reason in status
            run.set_state("FAILED", "".join(traceback.format_exception(exc)))
        finally:
            await plugin.stop()

    async def loop(self, run: Run, plugin: SourceConnector, contract: Contract) -> None:
        topic = dataset_topic(run.config.agency, run.config.dataset)
        offset: Offset | None = self.offsets.get(run.name)
        while True:
            await run.running.wait()
            batch = await self.retry("polling the source", partial(plugin.poll, offset))
            if batch.records:
                await self.write(run, contract, topic, batch.records)
            if batch.offset != offset and batch.offset is not None:
                committed = batch.offset
                await self.retry(
                    "committing the offset", partial(self.offsets.put, run.name, committed)
                )
                offset = committed
            if not batch.more:
                await asyncio.sleep(plugin.poll_interval)

    async def write(self, run: Run, contract: Contract, topic: str, records: Any) -> None:
        good: list[Record] = []
        bad: list[Record] = []
        size = 0
        now = datetime.now(UTC)
        published = f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z".encode()
        common = [
            (PRODUCER, f"connector:{run.name}".encode()),
            (PUBLISHED_AT, published),
            (SCHEMA_ID, str(contract.schema_id).encode()),
        ]
        for record in records:
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
            size += len(payload)
            key = record.key.encode() if record.key is not None else None
            headers = [(EVENT_ID, event_id(run.name, record.position).encode()), *common]
            good.append(Record(key, payload, headers))

        async def send() -> None:
            await asyncio.gather(
                send_batch(self.producer, topic, good),
                send_batch(self.producer, dlq_topic(run.name), bad),
            )

        await self.retry("writing to Kafka", send)
        RECORDS.labels(run.name, "written").inc(len(good))
        RECORDS.labels(run.name, "dead_lettered").inc(len(bad))
        if good:
            count_published(
                run.config.agency, run.config.dataset, "connector", events=len(good), size=size
            )

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
        value = canonical(record.value).encode() if record.value is not None else None
        headers = [
            (ERROR_HEADER, reason.encode()),
            (CONNECTOR_HEADER, connector.encode()),
            (POSITION_HEADER, canonical(record.position).encode()),
            (EVENT_ID, event_id(connector, record.position).encode()),
        ]
        key = record.key.encode() if record.key is not None else None
        return Record(key, value, headers)
