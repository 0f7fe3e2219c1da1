"""make bench-gateway-auth: how fast the gateway's door is.

1. ``POST /oauth2/token`` (client credentials, HTTP Basic): tokens/s. Every request verifies the
   client secret's scrypt hash (deliberately slow) and signs an RS256 JWT.
2. ``GET /v1/catalog/{dataset}`` with a bearer token from 100 concurrent clients: requests/s and
   p99. Each request verifies the JWT, checks revocation and the client in the process's view
   of the control plane, applies the rate limit, reads the dataset, its contract from the
   registry and its volume from Kafka.

Configure with BENCH_WORKERS (gateway processes, default 2), BENCH_SECONDS (default 30) and
BENCH_CLIENTS (default 100).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import hub_identity, kafka, report, run, run_loadgen, service
from services.core.local_kafka import free_port

CONTRACT = {
    "type": "record",
    "name": "AirQuality",
    "namespace": "vn.gov.bench",
    "doc": "Hourly air quality of a monitoring station.",
    "fields": [
        {"name": "station", "type": "string", "doc": "Station code."},
        {"name": "measured_at", "type": "string", "doc": "ISO time of the measurement."},
        {"name": "pm25", "type": "double", "doc": "PM2.5 in µg/m³."},
    ],
}


@dataclass(frozen=True)
class Door:
    """A gateway and a registry on one control plane; the bench client, a token of it."""

    gateway: str
    registry: str
    client_id: str
    secret: str
    token: str


@asynccontextmanager
async def door(gateway_workers: int, dataset: str, partitions: int) -> AsyncIterator[Door]:
    """Start both services (no per-client rate limit: the benchmarks measure the door, not the
    limit) and create the public dataset ``bench.<dataset>`` with :data:`CONTRACT`."""
    async with kafka() as bootstrap:
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            client_id, secret = hub_identity(data)
            gateway_port, registry_port = free_port(), free_port()
            env = {
                "NDXP_AUTH_ISSUER": f"http://127.0.0.1:{gateway_port}",
                "NDXP_GATEWAY_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
                "NDXP_AUTH_RATE_LIMIT_PER_SECOND": "1000000",
                "NDXP_AUTH_RATE_LIMIT_BURST": "1000000",
            }
            with (
                service(
                    "gateway", bootstrap, data, gateway_workers, gateway_port, **env
                ) as gateway,
                service("registry", bootstrap, data, 1, registry_port, **env) as registry,
            ):
                async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
                    token = await create_dataset(http, (client_id, secret), dataset, partitions)
                yield Door(gateway, registry, client_id, secret, token)


async def create_dataset(
    http: httpx.AsyncClient, client: tuple[str, str], name: str, partitions: int
) -> str:
    """A token of ``client``, with which ``bench.<name>`` is created through the gateway."""
    answer = await http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, auth=client
    )
    token: str = answer.json()["access_token"]
    created = await http.post(
        "/v1/datasets",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "name": name,
            "title": "Air quality",
            "description": "Hourly station measurements.",
            "access_rights": "PUBLIC",
            "partitions": partitions,
            "contact_point": {"name": "Bench", "email": "bench@example.gov.vn"},
            "schema": json.dumps(CONTRACT),
        },
    )
    if created.status_code != 201:
        raise RuntimeError(f"creating the dataset failed: {created.text}")
    return token


async def main() -> None:
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    seconds = os.environ.get("BENCH_SECONDS", "30")
    clients = os.environ.get("BENCH_CLIENTS", "100")
    dataset = f"air-quality-{uuid.uuid4().hex[:8]}"  # a topic of its own on a shared broker
    async with door(workers, dataset, partitions=3) as hub:
        tokens = run_loadgen(
            "-url", hub.gateway, "-mode", "token", "-c", "10", "-d", "10s",
            "-basic", f"{hub.client_id}:{hub.secret}",
        )  # fmt: skip
        report(f"POST /oauth2/token, 10 clients, {workers} worker(s)", tokens)
        catalog = run_loadgen(
            "-url", hub.gateway, "-mode", "get", "-c", clients, "-d", f"{seconds}s",
            "-path", f"/v1/catalog/bench.{dataset}",
            "-header", f"Authorization: Bearer {hub.token}",
        )  # fmt: skip
        report(f"GET /v1/catalog/{{dataset}}, {clients} clients, {workers} worker(s)", catalog)


if __name__ == "__main__":
    run(main)
