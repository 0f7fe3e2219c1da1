"""make bench-gateway-auth: how fast the gateway's door is.

1. ``POST /oauth2/token`` (client credentials, HTTP Basic): tokens/s. Every request verifies the
   client secret's scrypt hash (deliberately slow) and signs an RS256 JWT.
2. ``GET /v1/catalog/{dataset}`` with a bearer token from 100 concurrent clients: requests/s and
   p99. Each request verifies the JWT, checks revocation and the client in the control plane,
   applies the rate limit, reads the dataset, its contract from the registry and its volume from
   Kafka.

Configure with BENCH_WORKERS (gateway processes, default 2), BENCH_SECONDS (default 30) and
BENCH_CLIENTS (default 100).
"""

from __future__ import annotations

import json
import os
import tempfile
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


async def main() -> None:
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    seconds = os.environ.get("BENCH_SECONDS", "30")
    clients = os.environ.get("BENCH_CLIENTS", "100")
    async with kafka() as bootstrap:
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            client_id, secret = hub_identity(data)
            gateway_port, registry_port = free_port(), free_port()
            env = {
                "NDXP_AUTH_ISSUER": f"http://127.0.0.1:{gateway_port}",
                "NDXP_GATEWAY_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
                # the benchmark measures the door, not the per-client limit
                "NDXP_AUTH_RATE_LIMIT_PER_SECOND": "1000000",
                "NDXP_AUTH_RATE_LIMIT_BURST": "1000000",
            }
            with (
                service("gateway", bootstrap, data, workers, gateway_port, **env) as gateway,
                service("registry", bootstrap, data, 1, registry_port, **env),
            ):
                async with httpx.AsyncClient(base_url=gateway, timeout=60) as http:
                    answer = await http.post(
                        "/oauth2/token",
                        data={"grant_type": "client_credentials"},
                        auth=(client_id, secret),
                    )
                    token = answer.json()["access_token"]
                    created = await http.post(
                        "/v1/datasets",
                        headers={"Authorization": f"Bearer {token}"},
                        json={
                            "name": "air-quality",
                            "title": "Air quality",
                            "description": "Hourly station measurements.",
                            "access_rights": "PUBLIC",
                            "partitions": 3,
                            "contact_point": {"name": "Bench", "email": "bench@example.gov.vn"},
                            "schema": json.dumps(CONTRACT),
                        },
                    )
                    if created.status_code != 201:
                        raise RuntimeError(f"creating the dataset failed: {created.text}")
                tokens = run_loadgen(
                    "-url", gateway, "-mode", "token", "-c", "10", "-d", "10s",
                    "-basic", f"{client_id}:{secret}",
                )  # fmt: skip
                report(f"POST /oauth2/token, 10 clients, {workers} worker(s)", tokens)
                catalog = run_loadgen(
                    "-url", gateway, "-mode", "get", "-c", clients, "-d", f"{seconds}s",
                    "-path", "/v1/catalog/bench.air-quality",
                    "-header", f"Authorization: Bearer {token}",
                )  # fmt: skip
                report(
                    f"GET /v1/catalog/{{dataset}}, {clients} clients, {workers} worker(s)", catalog
                )


if __name__ == "__main__":
    run(main)
