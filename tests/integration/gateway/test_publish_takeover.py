"""A publish with an ``Idempotency-Key`` whose first owner died: the retry takes the key over at
once the owner's lease passed, and the batch is on the topic exactly once.

The first owner is a second "replica" in the test process (its own producer pool, publisher and
key store, on the hub's real SQLite and the real broker), stopped at the exact point the crash
would leave it; the retry goes to the hub's gateway over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from services.core.avro.contract_cache import ContractCache
from services.core.avro.registry_client import RegistryClient
from services.core.config import KafkaSettings
from services.core.db.engine import create_engine, session_factory
from services.core.errors import Unavailable
from services.core.events.body import Format
from services.core.events.encode import PublishRequest, Target, encoded_batch
from services.core.events.transactions import Outgoing, Placed, Publisher
from services.core.kafka.headers import decode_headers
from services.core.kafka.producer_pool import ProducerPool
from services.core.kafka.record_limits import TopicLimits
from services.gateway.publish.idempotency import IdempotencyKeys, request_hash
from services.gateway.publish.idempotency_kafka import KafkaOutcome
from tests.fixtures.catalog import Hub
from tests.integration.gateway.catalog_data import problem
from tests.integration.gateway.test_publish import (
    WRITER,
    Published,
    consume,
    end_offsets,
    make_dataset,
    post,
    reading,
)

LEASE = 1.0


@dataclass
class Replica:
    """The first owner: a gateway's key store and publisher, without the HTTP in front."""

    keys: IdempotencyKeys
    publisher: Publisher
    contracts: ContractCache


@asynccontextmanager
async def replica(hub: Hub, bootstrap: str) -> AsyncIterator[Replica]:
    engine = create_engine(hub.gateway.settings.database_url)
    kafka = KafkaSettings(bootstrap=bootstrap)
    pool = ProducerPool(kafka, bootstrap, 1, transaction_timeout_ms=60_000,
                        prefix=f"ndxp-dead-{uuid.uuid4().hex[:8]}")  # fmt: skip
    publisher = Publisher(pool, 15.0, TopicLimits(kafka, bootstrap))
    # renew_for=0: it never renews its lease, as if it died right after claiming; the hub's
    # gateway, which takes over, has a pool of its own size (4): it fences ids 0..3 of the prefix
    keys = IdempotencyKeys(
        session_factory(engine), KafkaOutcome(kafka, bootstrap, 30.0, 1), lease=LEASE,
        renew_for=0.0, owner=pool.prefix,
    )  # fmt: skip
    registry = RegistryClient(hub.registry_url)
    try:
        yield Replica(keys, publisher, ContractCache(registry))
    finally:
        await publisher.close()
        await keys.close()
        await registry.close()
        await engine.dispose()


@asynccontextmanager
async def claimed(
    hub: Hub, bootstrap: str, dataset: Published, key: str, records: list[dict[str, Any]]
) -> AsyncIterator[tuple[Replica, Outgoing]]:
    """The first owner, having claimed ``key`` and encoded the batch as the gateway would (the
    body is what ``post`` sends)."""
    owner = dataset.owner
    async with replica(hub, bootstrap) as first:
        body = json.dumps(records).encode()
        digest = request_hash(Format.JSON.value, "None", body)
        claim = await first.keys.claim(
            owner.client_id, dataset.id, key, digest, topic=dataset.topic
        )
        assert claim is None
        to = Target(dataset.id, owner.agency, dataset.topic, f"{dataset.topic}-value")
        request = PublishRequest(
            Format.JSON, body, idempotency_key=key, auth=f"Bearer {owner.token}"
        )
        batch, _ = await encoded_batch(
            first.contracts, to, request, client_id=owner.client_id, max_records=100
        )
        yield first, batch


def offsets(placed: Placed) -> list[dict[str, int]]:
    return [{"partition": p, "offset": o} for p, o in placed]


@pytest.fixture
async def dataset(hub: Hub) -> Published:
    return await make_dataset(hub, await hub.caller(*WRITER), partitions=2)


async def test_committed_but_answer_not_stored_is_replayed_not_rewritten(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    owner, key, records = dataset.owner, f"crash-{uuid.uuid4()}", [reading(i) for i in range(6)]
    async with claimed(hub, kafka_bootstrap, dataset, key, records) as (first, batch):

        async def intend(transactional_id: str, placed: Placed) -> bool:
            answer = {"records": len(placed), "schema_id": dataset.contract.schema_id,
                      "offsets": offsets(placed)}  # fmt: skip
            return await first.keys.intend(owner.client_id, dataset.id, key, transactional_id,
                                           answer)  # fmt: skip

        # committed in Kafka; the process dies before it can store its answer
        placed = await first.publisher.send(dataset.topic, batch, intend)

    started = time.monotonic()
    while True:  # refused while the dead owner's lease runs, never much longer
        retry = await post(hub, owner, dataset.path, records, **{"Idempotency-Key": key})
        if retry.status_code != 409:
            break
        problem(retry, 409, "idempotency_key_in_progress")
        assert int(retry.headers["retry-after"]) <= LEASE + 1
        await asyncio.sleep(0.2)
    assert time.monotonic() - started < LEASE + 5

    assert retry.status_code == 201, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["offsets"] == offsets(placed)
    on_topic = await consume(kafka_bootstrap, dataset.topic)
    assert len(on_topic) == 6
    assert sorted((r.partition, r.offset) for r in on_topic) == sorted(placed)
    # and from now on the stored answer is replayed
    again = await post(hub, owner, dataset.path, records, **{"Idempotency-Key": key})
    assert again.status_code == 201 and again.json() == retry.json()
    # the dead gateway never audited it; the retry that found it did, once
    async with hub.http(owner) as http:
        audited = await http.get("/v1/audit", params={"dataset": dataset.id, "action": "publish"})
    [record] = audited.json()["items"]
    assert record["record_count"] == 6 and record["details"]["idempotency_key"] == key


async def test_died_before_commit_the_retry_writes_and_the_zombie_is_fenced(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    owner, key, records = dataset.owner, f"crash-{uuid.uuid4()}", [reading(i) for i in range(4)]
    async with claimed(hub, kafka_bootstrap, dataset, key, records) as (first, batch):
        frozen = asyncio.Event()
        thaw = asyncio.Event()

        async def intend(transactional_id: str, placed: Placed) -> bool:
            answer = {"records": len(placed), "offsets": offsets(placed)}
            stored = await first.keys.intend(owner.client_id, dataset.id, key, transactional_id,
                                             answer)  # fmt: skip
            frozen.set()
            await thaw.wait()  # the process stalls between its intent and its commit
            return stored

        zombie = asyncio.create_task(first.publisher.send(dataset.topic, batch, intend))
        await frozen.wait()
        await asyncio.sleep(LEASE + 0.2)

        retry = await post(hub, owner, dataset.path, records, **{"Idempotency-Key": key})
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers

        thaw.set()  # it wakes up and tries to commit: fenced
        with pytest.raises(Unavailable, match=r"(?i)fenced|epoch"):
            await zombie

    on_topic = await consume(kafka_bootstrap, dataset.topic)
    assert len(on_topic) == 4
    assert sorted((r.partition, r.offset) for r in on_topic) == sorted(
        (o["partition"], o["offset"]) for o in retry.json()["offsets"]
    )
    event_ids = {decode_headers(r.headers)["ndxp-event-id"] for r in on_topic}
    assert len(event_ids) == 4


async def test_died_mid_send_its_open_transaction_does_not_hold_back_the_retry(
    hub: Hub, dataset: Published, kafka_bootstrap: str
) -> None:
    """Killed with its records sent and no intent recorded: its transaction stays open in Kafka
    (for the 60 s of its timeout here), which would keep every read_committed consumer of those
    partitions — the retried batch included — waiting. The taker fences the dead owner's
    producers, so the retried batch is readable as soon as it is answered."""
    owner, key, records = dataset.owner, f"crash-{uuid.uuid4()}", [reading(i) for i in range(8)]
    async with claimed(hub, kafka_bootstrap, dataset, key, records) as (first, batch):
        sent = asyncio.Event()
        never = asyncio.Event()

        async def intend(transactional_id: str, placed: Placed) -> bool:
            sent.set()
            await never.wait()  # dies here: records in an open transaction, no intent
            return False

        zombie = asyncio.create_task(first.publisher.send(dataset.topic, batch, intend))
        await sent.wait()
        assert sum((await end_offsets(kafka_bootstrap, dataset.topic)).values()) == 8
        await asyncio.sleep(LEASE + 0.2)

        retry = await post(hub, owner, dataset.path, records, **{"Idempotency-Key": key})
        assert retry.status_code == 201, retry.text
        assert "idempotent-replayed" not in retry.headers
        # read at once (``consume`` stops at the last stable offset it sees first)
        on_topic = await consume(kafka_bootstrap, dataset.topic)
        assert sorted((r.partition, r.offset) for r in on_topic) == sorted(
            (o["partition"], o["offset"]) for o in retry.json()["offsets"]
        )
        zombie.cancel()
        with contextlib.suppress(BaseException):
            await zombie
