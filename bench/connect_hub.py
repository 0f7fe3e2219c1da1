"""What the parts of ``make bench-connect`` share: the hub they run against (Kafka, the registry
and one connect worker, each its own process), the benchmarks' contract, and the checks on it.

Every part registers a dataset of its own, creates its connector through the worker's REST API
as a user would, and times until the connector's committed offsets say it is done.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka.structs import TopicPartition

from services.core.config import KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.kafka.consumer import create_consumer
from services.core.kafka.topics import dataset_topic

AGENCY = "bench"
PARTITIONS = 3

PERSON = {
    "type": "record",
    "name": "Person",
    "namespace": "vn.gov.bench",
    "doc": "A person of the benchmark's source table.",
    "fields": [
        {"name": "id", "type": "long", "doc": "Row id."},
        {"name": "name", "type": "string", "doc": "Full name."},
        {"name": "age", "type": "int", "doc": "Age in years."},
        {
            "name": "updated_at",
            "type": {"type": "long", "logicalType": "local-timestamp-micros"},
            "doc": "When the row last changed (the source's local time).",
        },
    ],
}


@dataclass(frozen=True)
class Hub:
    """Where the benchmark's services answer: Kafka's bootstrap, the registry, the worker."""

    bootstrap: str
    registry: str
    connect: str


async def register_dataset(hub: Hub, dataset: str, schema: dict[str, Any]) -> tuple[str, int]:
    """The dataset's topic (``PARTITIONS`` partitions) and its contract at the registry; returns
    the topic and the contract's schema id."""
    topic = dataset_topic(AGENCY, dataset)
    settings = KafkaSettings(bootstrap=hub.bootstrap)
    await ensure_topic(settings, TopicSpec(topic, partitions=PARTITIONS))
    async with httpx.AsyncClient(base_url=hub.registry, timeout=30) as http:
        answer = await http.post(
            f"/subjects/{topic}-value/versions", json={"schema": json.dumps(schema)}
        )
        answer.raise_for_status()
    return topic, int(answer.json()["id"])


async def partition_ends(bootstrap: str, topic: str, partitions: int = 1) -> list[int]:
    """The end offset of each of ``topic``'s first ``partitions`` partitions, in order."""
    consumer = create_consumer(KafkaSettings(bootstrap=bootstrap))
    await consumer.start()
    try:
        wanted = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(wanted)
    finally:
        await consumer.stop()
    return [ends[tp] for tp in wanted]


async def end_offsets(bootstrap: str, topic: str, partitions: int = 1) -> int:
    """How many records ``topic`` holds (the sum of its partitions' end offsets)."""
    return sum(await partition_ends(bootstrap, topic, partitions))


async def cpu_seconds(http: httpx.AsyncClient) -> float:
    """The connect worker's CPU time so far, from its ``/metrics`` (Prometheus' process
    collector): per record, a figure other load on the machine hardly moves."""
    metrics = (await http.get("/metrics")).text
    for line in metrics.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise RuntimeError("the connect worker's /metrics has no process_cpu_seconds_total")


async def until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Poll ``check`` every 50 ms until it holds; the ``perf_counter`` time it first held."""
    deadline = time.perf_counter() + within
    while not await check():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what}: not done after {within:.0f} s")
        await asyncio.sleep(0.05)
    return time.perf_counter()
