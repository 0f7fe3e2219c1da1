"""make bench-sharing: what the gateway's publish path costs, beside the raw data plane.

1. The raw baseline: an idempotent aiokafka producer with fastavro encoding (bench.kafka_produce)
   sends 500-record batches of a 10-field record from 1 and from 16 concurrent senders.
2. Publish through the gateway: ``POST /v1/datasets/bench.readings-<run>/events`` with a pre-built
   JSON body of 500 such records (bearer token; every record validated against the contract,
   encoded, written in one Kafka transaction per request, audited) from 1 and from 16 concurrent
   clients of the Go load generator. Prints events/s and the ratio to the raw figure with the same
   concurrency.

3. End-to-end latency: while one SSE consumer (another agency, under an approved agreement) reads
   the dataset, publish at 1,000 events/s in BENCH_LATENCY_BATCH-record requests (default 50)
   for BENCH_LATENCY_SECONDS (default 20); each record carries its send time in ``note``; prints
   p50/p99 of receive time minus send time (target: p99 under 50 ms). ``python -m bench.sharing
   latency`` runs only this part, ``python -m bench.sharing publish`` only the parts before.

Configure with BENCH_WORKERS (gateway processes, default 2), BENCH_SECONDS (per publish run,
default 20), BENCH_EVENTS (per raw run, default 200,000) and BENCH_PRODUCERS (each gateway
process's transactional producers, default 4).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    credentials,
    door_env,
    hub_identity,
    kafka,
    ndxp,
    report,
    run,
    run_loadgen,
    service,
)
from bench.kafka_produce import BATCH, produce, reading
from services.core.config import KafkaSettings
from services.core.kafka.admin import TopicSpec, ensure_topic
from services.core.local_kafka import free_port

CONCURRENCY = (1, 16)
PARTITIONS = 3
DATASET = f"bench.readings-{uuid.uuid4().hex[:8]}"  # a topic of its own on a shared broker
LATENCY_RATE = 1_000  # events/s
# Records per publish request: 50 (20 requests/s). With 10 (100 requests/s) the publish path is
# the bottleneck on a 2-CPU machine (requests queue for seconds), not delivery.
LATENCY_BATCH = 50


def _field(name: str, kind: Any, doc: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "doc": doc, **extra}


CONTRACT = {
    "type": "record",
    "name": "Reading",
    "namespace": "vn.gov.bench",
    "doc": "One air quality reading of a monitoring station.",
    "fields": [
        _field("event_id", "string", "Identifier of the reading."),
        _field("station", "string", "Station code."),
        _field("province_code", "int", "Province of the station."),
        _field(
            "measured_at",
            {"type": "long", "logicalType": "timestamp-millis"},
            "When it was measured.",
        ),
        _field("pm25", "double", "PM2.5 in µg/m³."),
        _field("pm10", "double", "PM10 in µg/m³."),
        _field("temperature", "float", "Air temperature in °C."),
        _field("humidity", "float", "Relative humidity, 0 to 1."),
        _field("status", "string", "Station status."),
        _field("note", ["null", "string"], "A remark.", default=None),
    ],
}


async def raw_baseline(bootstrap: str, events: int) -> dict[int, float]:
    """Events/s of the raw producer, by number of concurrent senders."""
    settings = KafkaSettings(bootstrap=bootstrap)
    rates = {}
    for senders in CONCURRENCY:
        topic = f"bench.raw-{uuid.uuid4().hex[:6]}.v1"
        await ensure_topic(settings, TopicSpec(topic, partitions=PARTITIONS), bootstrap=bootstrap)
        rates[senders] = await produce(bootstrap, topic, events, senders)
        report(
            f"raw aiokafka producer + fastavro, {BATCH}-record batches, {senders} sender(s)",
            {"events_per_second": rates[senders]},
        )
    return rates


async def prepare(gateway: str, client_id: str, secret: str, body: bytes) -> str:
    """A token, the dataset, and one publish that must succeed; returns the token."""
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        answer = await http.post(
            "/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        token: str = answer.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        dataset = {
            "name": DATASET.split(".", 1)[1],
            "title": "Air quality readings",
            "description": "Station measurements, for the publish benchmark.",
            "access_rights": "PUBLIC",
            "partitions": PARTITIONS,
            "contact_point": {"name": "Bench", "email": "bench@example.gov.vn"},
            "schema": json.dumps(CONTRACT),
        }
        for _ in range(5):  # a registry that has not seen this worker's key yet: 503 for 5 s
            created = await http.post("/v1/datasets", headers=headers, json=dataset)
            if created.status_code != 503:
                break
            await asyncio.sleep(6)
        if created.status_code != 201:
            raise RuntimeError(f"creating the dataset failed: {created.text}")
        published = await http.post(
            f"/v1/datasets/{DATASET}/events",
            headers={**headers, "Content-Type": "application/json"},
            content=body,
        )
        if published.status_code != 201:
            raise RuntimeError(f"publishing failed: {published.text}")
    return token


def publish_runs(
    gateway: str, token: str, body_file: Path, *, seconds: str, workers: int, raw: dict[int, float]
) -> None:
    for clients in CONCURRENCY:
        result = run_loadgen(
            "-url", gateway, "-mode", "post", "-c", str(clients), "-d", f"{seconds}s",
            "-path", f"/v1/datasets/{DATASET}/events", "-body", str(body_file),
            "-header", f"Authorization: Bearer {token}", "-status", "201",
        )  # fmt: skip
        rate = result["requests_per_second"] * BATCH
        report(
            f"POST /v1/datasets/{{dataset}}/events, {BATCH}-record JSON batches, "
            f"{clients} client(s), {workers} gateway worker(s)",
            {
                "events_per_second": rate,
                "raw_events_per_second": raw[clients],
                "ratio_to_raw": rate / raw[clients],
                "requests": result["requests"],
                "errors": result["errors"],
                "p50_ms": float(result["p50_ms"]),
                "p99_ms": float(result["p99_ms"]),
            },
        )


# --- end-to-end latency: publish → SSE consumer ------------------------------------------------

LATENCY_CONSUMER = "bench-consumer"


def latency_identities(data: Path) -> tuple[tuple[str, str], tuple[str, str]]:
    """The provider's approver (agreements:manage, registry:write for the reader schema) and a
    consumer agency's subscriber."""
    approver = ("agreements:manage", "registry:write")
    flags = [part for scope in approver for part in ("--scope", scope)]
    provider = credentials(ndxp(data, "clients", "create", "bench", "--name", "approver", *flags))
    ndxp(data, "agencies", "create", LATENCY_CONSUMER, "--name", "Consumer", "--kind", "other")
    consumer = credentials(
        ndxp(data, "clients", "create", LATENCY_CONSUMER, "--name", "sub", "--scope", "subscribe")
    )
    return provider, consumer


async def _token(http: httpx.AsyncClient, client: tuple[str, str]) -> dict[str, str]:
    answer = await http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=client
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _subscription(
    http: httpx.AsyncClient, approver: dict[str, str], consumer: dict[str, str]
) -> str:
    """An approved agreement on the dataset, and a subscription from its end."""
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    requested = await http.post(
        "/v1/agreements",
        headers=consumer,
        json={"dataset": DATASET, "purpose": "benchmark", "legal_basis": "-", "valid_until": until},
    )
    requested.raise_for_status()
    agreement = requested.json()["id"]
    approved = await http.post(f"/v1/agreements/{agreement}/approve", headers=approver)
    approved.raise_for_status()
    created = await http.post(
        "/v1/subscriptions",
        headers=consumer,
        json={"agreement": agreement, "name": "latency", "start": "latest"},
    )
    created.raise_for_status()
    subscription: str = created.json()["id"]
    return subscription


@dataclass
class _Received:
    """What the SSE consumer thread shares with the benchmark."""

    latencies: list[float] = field(default_factory=list)
    expected: int = sys.maxsize  # records to wait for, known once publishing is done
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def _read_stream(url: str, headers: dict[str, str], received: _Received) -> None:
    """The SSE consumer, in a thread of its own: each record's latency = now - its send time."""
    with (
        httpx.Client(timeout=httpx.Timeout(60, read=30)) as http,
        http.stream("GET", url, headers=headers) as answer,
    ):
        answer.raise_for_status()
        received.ready.set()
        for line in answer.iter_lines():
            if line.startswith("data: "):
                value = json.loads(line[6:])["value"]
                received.latencies.append(time.time() - float(value["note"]))
            if received.stop.is_set() or len(received.latencies) >= received.expected:
                return


async def _publish_paced(
    http: httpx.AsyncClient, headers: dict[str, str], seconds: float, rate: int, batch: int
) -> int:
    """``rate`` events/s in ``batch``-record requests for ``seconds``; each record carries the
    time its request was sent. Requests overlap when one takes longer than the interval."""
    interval, sent = batch / rate, 0
    in_flight: set[asyncio.Task[httpx.Response]] = set()
    started = next_at = time.perf_counter()
    while next_at - started < seconds:
        stamp = repr(time.time())
        body = [{**reading(sent + i), "note": stamp} for i in range(batch)]
        task = asyncio.create_task(
            http.post(f"/v1/datasets/{DATASET}/events", headers=headers, json=body)
        )
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        sent += batch
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    for answer in await asyncio.gather(*in_flight):
        answer.raise_for_status()
    return sent


async def e2e_latency(
    gateway: str,
    data: Path,
    publisher: dict[str, str],
    *,
    seconds: float,
    rate: int = LATENCY_RATE,
    batch: int = LATENCY_BATCH,
) -> None:
    """Publish at ``rate`` events/s for ``seconds`` while one SSE consumer reads the dataset;
    print p50/p99 of receive time minus send time (target: p99 under 50 ms)."""
    approver_client, consumer_client = latency_identities(data)
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
        approver = await _token(http, approver_client)
        consumer = await _token(http, consumer_client)
        subscription = await _subscription(http, approver, consumer)
        received = _Received()
        url = f"{gateway}/v1/subscriptions/{subscription}/stream"
        reader = threading.Thread(target=_read_stream, args=(url, consumer, received), daemon=True)
        reader.start()
        if not await asyncio.to_thread(received.ready.wait, 30):
            raise RuntimeError("the SSE stream did not open")
        sent = received.expected = await _publish_paced(http, publisher, seconds, rate, batch)
        await asyncio.to_thread(reader.join, 10)  # until every record came, or 10 s
        received.stop.set()
    latencies = received.latencies
    measured = sorted(latencies[rate:])  # the first second warms the path up
    if not measured:
        raise RuntimeError(f"the SSE consumer received {len(latencies)} of {sent} records")
    report(
        f"publish -> SSE consumer, {rate} events/s in {batch}-record requests for {seconds:g} s",
        {
            "sent": sent,
            "received": len(latencies),
            "p50_ms": 1000 * measured[len(measured) // 2],
            "p99_ms": 1000 * measured[min(len(measured) - 1, len(measured) * 99 // 100)],
            "max_ms": 1000 * measured[-1],
        },
    )


async def main() -> None:
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    seconds = os.environ.get("BENCH_SECONDS", "20")
    events = int(os.environ.get("BENCH_EVENTS", "200000"))
    producers = os.environ.get("BENCH_PRODUCERS", "4")
    latency_seconds = float(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
    latency_batch = int(os.environ.get("BENCH_LATENCY_BATCH", str(LATENCY_BATCH)))
    only_latency = sys.argv[1:] == ["latency"]
    only_publish = sys.argv[1:] == ["publish"]
    async with kafka() as bootstrap:
        raw = {} if only_latency else await raw_baseline(bootstrap, events)
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            client_id, secret = hub_identity(data)
            body_file = data / "batch.json"
            body = json.dumps([reading(i) for i in range(BATCH)]).encode()
            body_file.write_bytes(body)
            gateway_port, registry_port = free_port(), free_port()
            env = door_env(gateway_port, registry_port)
            env["NDXP_GATEWAY_PUBLISH_PRODUCERS"] = producers
            with (
                service("gateway", bootstrap, data, workers, gateway_port, **env) as gateway,
                service("registry", bootstrap, data, 1, registry_port, **env),
            ):
                token = await prepare(gateway, client_id, secret, body)
                if not only_latency:
                    publish_runs(
                        gateway, token, body_file, seconds=seconds, workers=workers, raw=raw
                    )
                if only_publish:
                    return
                publisher = {"Authorization": f"Bearer {token}"}
                await e2e_latency(
                    gateway, data, publisher, seconds=latency_seconds, batch=latency_batch
                )


if __name__ == "__main__":
    run(main)
