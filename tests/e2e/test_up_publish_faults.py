"""``ndxp up`` with production defaults, as a publisher meets it: an oversized record is a clear
413 and the hub keeps publishing; the gateway SIGKILLed in the middle of a keyed batch comes back,
the retry with the same ``Idempotency-Key`` is answered within seconds and the batch is on the
topic exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from services.core.config import KafkaSettings
from services.core.kafka.consumer import create_consumer
from tests.fixtures.hub import Hub

pytestmark = pytest.mark.faults  # kills or stops parts of a hub: `make test-faults`

TOPIC = "demo.air-quality.v1"
EVENTS = "/v1/datasets/demo.air-quality/events"
RECORDS = 3000


def reading(event_id: str, station: str = "HN-01") -> dict[str, Any]:
    value = {"station_code": station, "province_code": 1, "measured_at": 0, "pm25": 12.5, "aqi": 40}
    return {"event_id": event_id, "value": {**value, "measured_at": int(time.time() * 1000)}}


def gateway_pid(hub: Hub) -> int:
    found = [pid for pid, cmd in hub.children().items() if "services.cli gateway " in cmd]
    assert len(found) == 1, hub.children()
    return found[0]


async def count_event_ids(hub: Hub, prefix: str, expected: int) -> Counter[str]:
    """How often each event id starting with ``prefix`` is on the topic (read_committed)."""
    kafka = KafkaSettings(bootstrap=f"127.0.0.1:{hub.kafka_port}")
    consumer = create_consumer(kafka, TOPIC)  # read_committed, from the earliest
    await consumer.start()
    found: Counter[str] = Counter()
    try:
        deadline, quiet_until = time.monotonic() + 60, 0.0
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    event = dict(record.headers).get("ndxp-event-id", b"").decode()
                    if event.startswith(prefix):
                        found[event] += 1
            if sum(found.values()) >= expected and not quiet_until:
                quiet_until = time.monotonic() + 2  # a little longer: any second copy shows
            if quiet_until and time.monotonic() > quiet_until:
                break
    finally:
        await consumer.stop()
    return found


def test_oversized_is_413_and_a_killed_gateway_never_writes_a_keyed_batch_twice(
    up_hub: Hub,
) -> None:
    hub = up_hub
    headers = hub.headers("publish")
    with httpx.Client(base_url=hub.gateway, timeout=60, headers=headers) as http:
        huge = reading(f"huge-{uuid.uuid4()}", station="x" * (1536 * 1024))
        refused = http.post(EVENTS, json=[reading("small-1"), huge])
        assert refused.status_code == 413, refused.text
        problem = refused.json()
        assert problem["code"] == "record_too_large"
        assert problem["errors"][0]["index"] == 1
        for n in range(10):
            assert http.post(EVENTS, json=[reading(f"after-{n}")]).status_code == 201

    prefix = f"kill-{uuid.uuid4().hex[:8]}-"
    batch = [reading(f"{prefix}{i}") for i in range(RECORDS)]
    key = {"Idempotency-Key": prefix}
    first: dict[str, Any] = {}

    def send() -> None:
        try:
            with httpx.Client(timeout=60, headers={**headers, **key}) as http:
                first["answer"] = http.post(f"{hub.gateway}{EVENTS}", json=batch)
        except httpx.TransportError as exc:
            first["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.4)  # the gateway is validating, writing or committing the batch
    os.kill(gateway_pid(hub), signal.SIGKILL)
    sender.join(60)

    killed = time.monotonic()
    with httpx.Client(base_url=hub.gateway, timeout=60, headers={**headers, **key}) as http:
        while True:
            assert time.monotonic() - killed < 60, f"no answer to the retry\n{hub.log}"
            try:
                retry = http.post(EVENTS, json=batch)
            except httpx.TransportError:  # the gateway is being restarted
                time.sleep(0.3)
                continue
            if retry.status_code in (201, 422):
                break
            assert retry.status_code in (409, 503), retry.text
            time.sleep(0.3)
    assert retry.status_code == 201, retry.text
    assert retry.json()["records"] == RECORDS

    on_topic = asyncio.run(count_event_ids(hub, prefix, RECORDS))
    assert len(on_topic) == RECORDS
    assert set(on_topic.values()) == {1}, "a record of the batch is on the topic twice"
