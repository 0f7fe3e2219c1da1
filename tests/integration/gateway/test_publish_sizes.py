"""Records too large for their topic: refused before sending (413, nothing written), and a
producer the broker refused one anyway is recycled, so later publishes keep working."""

from __future__ import annotations

from typing import Any

from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.core.config import KafkaSettings
from services.core.kafka.admin import admin_client
from tests.fixtures.catalog import Hub
from tests.integration.gateway.catalog_data import problem
from tests.integration.gateway.test_publish import (
    Published,
    consume,
    counter_samples,
    end_offsets,
    make_dataset,
    post,
    reading,
)


async def set_max_message_bytes(bootstrap: str, topic: str, limit: int) -> None:
    async with admin_client(KafkaSettings(bootstrap=bootstrap)) as admin:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)}
        )
        (response,) = await admin.alter_configs([resource])
        assert all(r[0] == 0 for r in response.resources), response


def big(i: int, size: int) -> dict[str, Any]:
    return {**reading(i), "note": "x" * size}


async def recycles(hub: Hub, reason: str) -> float:
    found = await counter_samples(hub, "ndxp_producer_recycles")
    return sum(value for labels, value in found if labels == {"reason": reason})


async def transactions(hub: Hub, outcome: str) -> float:
    found = await counter_samples(hub, "ndxp_kafka_transactions")
    return sum(value for labels, value in found if labels == {"outcome": outcome})


async def test_an_oversized_record_is_413_and_poisons_nothing(
    hub: Hub, kafka_bootstrap: str
) -> None:
    owner = await hub.caller("publish", "registry:write", "catalog:read")
    dataset: Published = await make_dataset(hub, owner, partitions=1)
    await set_max_message_bytes(kafka_bootstrap, dataset.topic, 4000)
    before = await end_offsets(kafka_bootstrap, dataset.topic)

    batch = [reading(0), reading(1), big(2, 5000), reading(3), big(4, 9000)]
    refused = await post(hub, owner, dataset.path, batch)

    body = problem(refused, 413, "record_too_large")
    assert [e["index"] for e in body["errors"]] == [2, 4]
    assert all(e["limit"] == 4000 and e["size"] > 4000 for e in body["errors"])
    assert "record 2" in body["detail"] and "4000" in body["detail"]
    assert await end_offsets(kafka_bootstrap, dataset.topic) == before

    # 50 ordinary batches, each larger than the topic's limit in all: cut into batches that fit
    for n in range(50):
        answer = await post(hub, owner, dataset.path, [big(n * 40 + i, 100) for i in range(40)])
        assert answer.status_code == 201, answer.text
    assert len(await consume(kafka_bootstrap, dataset.topic)) == 50 * 40


async def test_a_producer_refused_by_the_broker_is_recycled(hub: Hub, kafka_bootstrap: str) -> None:
    owner = await hub.caller("publish", "registry:write", "catalog:read")
    dataset = await make_dataset(hub, owner, partitions=2)
    first = await post(hub, owner, dataset.path, [big(0, 3000)])  # the limit is read: 1 MiB
    assert first.status_code == 201, first.text
    recycled = await recycles(hub, "MessageSizeTooLargeError")
    abandoned = await transactions(hub, "abandoned")

    # lowered behind the gateway's back: its cached limit lets the record through to the broker
    await set_max_message_bytes(kafka_bootstrap, dataset.topic, 1000)
    refused = await post(hub, owner, dataset.path, [big(1, 3000)])

    problem(refused, 413, "payload_too_large")
    assert await recycles(hub, "MessageSizeTooLargeError") == recycled + 1
    assert await transactions(hub, "abandoned") == abandoned + 1  # with its producer
    committed = await transactions(hub, "committed")
    # the limit is read again at once: the pre-check refuses the next one
    again = await post(hub, owner, dataset.path, [big(2, 3000)])
    assert problem(again, 413, "record_too_large")["errors"][0]["limit"] == 1000
    # every producer of the pool (round robin) keeps working
    for n in range(20):
        answer = await post(hub, owner, dataset.path, [reading(n), reading(n + 1)])
        assert answer.status_code == 201, answer.text
    assert len(await consume(kafka_bootstrap, dataset.topic)) == 1 + 20 * 2
    assert await transactions(hub, "committed") == committed + 20  # one after the other
