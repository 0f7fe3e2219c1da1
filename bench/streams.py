"""make bench-streams: N live SSE streams of one dataset on one gateway replica, at R ev/s.

One consumer agency opens one stream per subscription (BENCH_STREAMS, default 2,000) on a gateway
process of its own, beside the registry and a second gateway that made the subscriptions and takes
the publishes (so neither its pooled consumers nor its publishing are counted). The streams are
held by a small Go client (bench/sseclient: 2,000 streams read in Python would make the client
the bottleneck), which reads every record and its publish -> delivered latency from the record's
``ndxp-published-at`` header. With the streams open and idle it prints the gateway's memory per
stream, its Kafka consumers and connections to the broker and its idle CPU; then events are
published at BENCH_RATE ev/s (default 1,000) for BENCH_SECONDS (default 20), straight to the
topic (BENCH_PUBLISH=kafka, the default) or through the other gateway (gateway), and it prints
delivered/expected, p50/p99/max publish -> delivered, and the gateway's CPU meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import (
    BENCH_DIR,
    credentials,
    go_binary,
    hub_identity,
    kafka,
    ndxp,
    report,
    run,
    service,
)
from bench.kafka_produce import BATCH, encode, reading
from bench.sharing import DATASET, _token, latency_identities, prepare
from services.core.config import KafkaSettings
from services.core.kafka.headers import PUBLISHED_AT, utc_millis
from services.core.kafka.producer import Record, create_producer, send_batch, start_producer
from services.core.local_kafka import free_port
from tests.fixtures.streams import GatewayProcess, gateway_process, metric

MB = 1024 * 1024
SSECLIENT_DIR = BENCH_DIR / "sseclient"
TOPIC = f"{DATASET}.v1"


async def subscriptions(
    http: httpx.AsyncClient, approver: dict[str, str], consumer: dict[str, str], count: int
) -> list[str]:
    """An approved agreement on the dataset, and ``count`` subscriptions from its end."""
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"dataset": DATASET, "purpose": "benchmark", "legal_basis": "-", "valid_until": until}
    requested = await http.post("/v1/agreements", headers=consumer, json=body)
    requested.raise_for_status()
    agreement = requested.json()["id"]
    (await http.post(f"/v1/agreements/{agreement}/approve", headers=approver)).raise_for_status()
    creating = asyncio.Semaphore(8)

    async def one(index: int) -> str:
        async with creating:
            created = await http.post(
                "/v1/subscriptions",
                headers=consumer,
                json={"agreement": agreement, "name": f"idle-{index}", "start": "latest"},
            )
        created.raise_for_status()
        return str(created.json()["id"])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def kafka_connections(pid: int, bootstrap: str) -> int:
    """The process's TCP connections to the broker's port (/proc: its socket inodes)."""
    port = int(bootstrap.rsplit(":", 1)[1])
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = str(fd.readlink())
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                found += 1
    return found


class Publisher:
    """``rate`` events a second for ``seconds``, a batch every 100 ms whether or not the ones
    before were acknowledged: through the gateway that made the subscriptions (BENCH_PUBLISH=
    gateway) or straight to the dataset's topic (kafka, the default: on a busy machine the
    publish path, measured by bench-sharing, would be the figure instead of the fan-out); each
    record carries ``ndxp-published-at``, the start of publish -> delivered."""

    def __init__(self, how: str, setup: str, headers: dict[str, str], bootstrap: str) -> None:
        self.how, self.setup, self.headers, self.bootstrap = how, setup, headers, bootstrap
        self.took: list[float] = []  # seconds of each batch, sent to acknowledged

    async def run(self, rate: int, seconds: float) -> int:
        per_batch = max(1, rate // 10)
        producer = None
        if self.how == "kafka":
            producer = await start_producer(
                create_producer(KafkaSettings(bootstrap=self.bootstrap))
            )
        async with httpx.AsyncClient(base_url=self.setup, timeout=60, headers=self.headers) as http:

            async def one(first: int) -> None:
                sent_at = time.monotonic()
                if producer is None:
                    body = [reading(first + i) for i in range(per_batch)]
                    answer = await http.post(f"/v1/datasets/{DATASET}/events", json=body)
                    answer.raise_for_status()
                else:
                    now = [(PUBLISHED_AT, utc_millis(datetime.now(UTC)).encode())]
                    batch = [
                        Record(str(first + i).encode(), encode(reading(first + i)), now)
                        for i in range(per_batch)
                    ]
                    await send_batch(producer, TOPIC, batch)
                self.took.append(time.monotonic() - sent_at)

            started = time.monotonic()
            batches: list[asyncio.Task[None]] = []
            try:
                while time.monotonic() - started < seconds:
                    batches.append(asyncio.create_task(one(len(batches) * per_batch)))
                    await asyncio.sleep(max(0.0, len(batches) * 0.1 - (time.monotonic() - started)))
                await asyncio.gather(*batches)
            finally:
                if producer is not None:
                    await producer.stop()
        self.took.sort()
        return len(batches) * per_batch


async def measure(
    gateway: GatewayProcess,
    *,
    bootstrap: str,
    publisher: Publisher,
    consumer: dict[str, str],
    subscribed: list[str],
    rate: int,
    seconds: float,
    idle: float,
) -> None:
    count = len(subscribed)
    before = gateway.usage()
    client = await asyncio.create_subprocess_exec(
        str(go_binary(SSECLIENT_DIR)),
        "-url",
        gateway.url,
        "-token",
        consumer["Authorization"].removeprefix("Bearer "),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None and client.stdout is not None  # noqa: S101 - piped above
    started = time.monotonic()
    client.stdin.write(("\n".join(subscribed) + "\n\n").encode())
    await client.stdin.drain()
    assert (await client.stdout.readline()).strip() == b"open"  # noqa: S101 - the protocol
    await gateway.until("ndxp_gateway_streams_at_head", count, within=600)
    opened = time.monotonic() - started
    await asyncio.sleep(2)
    idle_from = gateway.usage()
    await asyncio.sleep(idle)
    idle_to = gateway.usage()
    metrics = await gateway.metrics()
    consumers = int(metric(metrics, "ndxp_gateway_kafka_consumers"))
    connections = kafka_connections(gateway.pid, bootstrap)
    publish_from = time.monotonic()
    sent = await publisher.run(rate, seconds)
    published = time.monotonic() - publish_from
    busy_to = gateway.usage()
    client.stdin.write(f"expect {sent}\n".encode())
    await client.stdin.drain()
    result = json.loads(await asyncio.wait_for(client.stdout.readline(), 120))
    await client.wait()
    after = await gateway.metrics()
    fallbacks = metric(after, "ndxp_gateway_stream_fallbacks_total", {"reason": "slow"})
    report(
        f"{count} SSE streams of one agency at {rate} ev/s (published through {publisher.how}), "
        "one gateway process",
        {
            "open_seconds": opened,
            "delivered": result["delivered"],
            "expected": result["expected"],
            "delivered_ratio": result["delivered"] / max(1, result["expected"]),
            "stream_errors": result["errors"],
            "streams_closed": result["closed"],
            "published_per_second": sent / published,
            "publish_batch_p50_ms": 1000 * publisher.took[len(publisher.took) // 2],
            "p50_ms": float(result["p50_ms"]),
            "p99_ms": float(result["p99_ms"]),
            "max_ms": float(result["max_ms"]),
            "rss_before_mb": before.rss_bytes / MB,
            "rss_open_mb": idle_to.rss_bytes / MB,
            "rss_per_stream_kb": (idle_to.rss_bytes - before.rss_bytes) / count / 1024,
            "kafka_consumers": consumers,
            "slow_fallbacks": int(fallbacks),
            "kafka_connections": connections,
            "idle_cpu_per_second": (idle_to.cpu_seconds - idle_from.cpu_seconds) / idle,
            "busy_cpu_per_second": (busy_to.cpu_seconds - idle_to.cpu_seconds) / published,
        },
    )


async def main() -> None:
    count = int(os.environ.get("BENCH_STREAMS", "2000"))
    rate = int(os.environ.get("BENCH_RATE", "1000"))
    seconds = float(os.environ.get("BENCH_SECONDS", "20"))
    idle = float(os.environ.get("BENCH_IDLE_SECONDS", "5"))
    async with kafka() as bootstrap:
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            provider = hub_identity(data)
            scrape = ("--name", "scraper", "--scope", "metrics:read")
            scraper = credentials(ndxp(data, "clients", "create", "bench", *scrape))
            approver_client, consumer_client = latency_identities(data)
            setup_port, registry_port = free_port(), free_port()
            env = {
                "NDXP_AUTH_ISSUER": f"http://127.0.0.1:{setup_port}",
                "NDXP_GATEWAY_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
                "NDXP_AUTH_RATE_LIMIT_BURST": "1000000",
                "NDXP_GATEWAY_STREAMS_PER_AGENCY": str(count),
                "NDXP_GATEWAY_STREAMS_PER_REPLICA": str(count),
                "NDXP_GATEWAY_SUBSCRIPTIONS_PER_AGENCY": str(count),
            }
            with (
                service("gateway", bootstrap, data, 1, setup_port, **env) as setup,
                service("registry", bootstrap, data, 1, registry_port, **env),
            ):
                body = json.dumps([reading(i) for i in range(BATCH)]).encode()
                await prepare(setup, *provider, body)
                async with httpx.AsyncClient(base_url=setup, timeout=60) as http:
                    publisher = await _token(http, provider)
                    approver = await _token(http, approver_client)
                    consumer = await _token(http, consumer_client)
                    subscribed = await subscriptions(http, approver, consumer, count)
                with gateway_process(data, bootstrap, env, scraper) as gateway:
                    how = os.environ.get("BENCH_PUBLISH", "kafka")
                    await measure(
                        gateway,
                        bootstrap=bootstrap,
                        publisher=Publisher(how, setup, publisher, bootstrap),
                        consumer=consumer,
                        subscribed=subscribed,
                        rate=rate,
                        seconds=seconds,
                        idle=idle,
                    )


if __name__ == "__main__":
    run(main)
