"""make bench-streams: what idle SSE streams cost a gateway, and that they all still deliver.

One consumer agency opens one stream per subscription (BENCH_STREAMS, default "200,400") on a
gateway process of its own, beside the registry and a second gateway that made the subscriptions
(so its pooled consumers are not counted). For each count it prints: the time to open them, the
gateway's CPU-seconds per second over BENCH_IDLE_SECONDS (default 10) of idleness, its memory
(RSS) before and with the streams open, /readyz's slowest answer meanwhile, the time for 10 events
published then to reach every stream, and its memory, sockets and Kafka consumers once the client
has closed them all.
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

from bench.common import credentials, hub_identity, kafka, ndxp, report, run, service
from bench.kafka_produce import BATCH, reading
from bench.sharing import DATASET, _token, latency_identities, prepare
from services.core.local_kafka import free_port
from tests.fixtures.streams import GatewayProcess, gateway_process, metric, open_streams

EVENTS = 10
MB = 1024 * 1024


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


async def _settled(gateway: GatewayProcess, sockets: int, within: float) -> float:
    """Seconds until the gateway holds no more than ``sockets`` sockets (at most ``within``)."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if gateway.usage().sockets <= sockets:
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def _delivered(responses: list[httpx.Response], events: int) -> None:
    async def one(answer: httpx.Response) -> None:
        got = 0
        async for line in answer.aiter_lines():
            got += line.startswith("data: ")
            if got == events:
                return

    await asyncio.gather(*(one(answer) for answer in responses))


async def measure(
    gateway: GatewayProcess,
    *,
    setup: str,
    publisher: dict[str, str],
    consumer: dict[str, str],
    subscribed: list[str],
    idle: float,
) -> None:
    count = len(subscribed)
    before = gateway.usage()
    started = time.monotonic()
    async with open_streams(gateway.url, consumer, subscribed) as responses:
        await gateway.until("ndxp_gateway_kafka_consumers", count, within=600)
        opened = time.monotonic() - started
        await asyncio.sleep(2)
        idle_from = gateway.usage()
        slowest = await gateway.slowest_answers(idle)
        idle_to = gateway.usage()
        async with httpx.AsyncClient(base_url=setup, timeout=60, headers=publisher) as http:
            sent = time.monotonic()
            body = [reading(i) for i in range(EVENTS)]
            (await http.post(f"/v1/datasets/{DATASET}/events", json=body)).raise_for_status()
        await asyncio.wait_for(_delivered(responses, EVENTS), 120)
        delivered = time.monotonic() - sent
    await gateway.until("ndxp_gateway_kafka_consumers", 0, within=120)
    settle = await _settled(gateway, before.sockets + 2, within=30)
    after = gateway.usage()
    report(
        f"{count} idle SSE streams of one agency, one gateway process",
        {
            "open_seconds": opened,
            "idle_cpu_per_second": (idle_to.cpu_seconds - idle_from.cpu_seconds) / idle,
            "rss_before_mb": before.rss_bytes / MB,
            "rss_open_mb": idle_to.rss_bytes / MB,
            "rss_per_stream_kb": (idle_to.rss_bytes - before.rss_bytes) / count / 1024,
            "healthz_slowest_ms": 1000 * slowest["/healthz"],
            "readyz_slowest_ms": 1000 * slowest["/readyz"],
            f"{EVENTS}_events_to_all_s": delivered,
            "rss_after_close_mb": after.rss_bytes / MB,
            "sockets_before": before.sockets,
            "sockets_open": idle_to.sockets,
            "sockets_after_close": after.sockets,
            "sockets_settled_s": settle,
            "consumers_after_close": int(
                metric(await gateway.metrics(), "ndxp_gateway_kafka_consumers")
            ),
        },
    )


async def main() -> None:
    counts = [int(n) for n in os.environ.get("BENCH_STREAMS", "200,400").split(",")]
    idle = float(os.environ.get("BENCH_IDLE_SECONDS", "10"))
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
                "NDXP_GATEWAY_STREAMS_PER_AGENCY": str(max(counts)),
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
                    subscribed = await subscriptions(http, approver, consumer, max(counts))
                with gateway_process(data, bootstrap, env, scraper) as gateway:
                    for count in counts:
                        await measure(
                            gateway,
                            setup=setup,
                            publisher=publisher,
                            consumer=consumer,
                            subscribed=subscribed[:count],
                            idle=idle,
                        )


if __name__ == "__main__":
    run(main)
