"""make bench-registry: register 1,000 schemas, then measure look-ups by id from 100 concurrent
clients for 30 s, and registrations of new compatible versions.

The registry runs without token checks (as on loopback behind the gateway), as the published
figures measure theirs. Published figures for the look-up on 2 CPUs, for scale: Redpanda's
registry ~5,700 req/s, Confluent's ~4,500 req/s. Configure with BENCH_WORKERS (registry
processes, default 2), BENCH_SECONDS (default 30) and BENCH_CLIENTS (default 100).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import kafka, report, run, run_loadgen, service

SCHEMAS = 1000


def schema(i: int) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": f"Dataset{i}",
            "namespace": "vn.gov.bench",
            "doc": f"Benchmark dataset {i}.",
            "fields": [
                {"name": "id", "type": "string", "doc": "Record id."},
                {"name": "value", "type": "long", "doc": "A measurement."},
                {"name": "note", "type": ["null", "string"], "default": None, "doc": "A note."},
            ],
        }
    )


async def register_all(url: str) -> tuple[list[int], float]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        gate = asyncio.Semaphore(20)

        async def one(i: int) -> int:
            async with gate:
                answer = await client.post(
                    f"/subjects/bench-{i}-value/versions", json={"schema": schema(i)}
                )
                answer.raise_for_status()
                schema_id: int = answer.json()["id"]
                return schema_id

        started = time.perf_counter()
        ids = await asyncio.gather(*(one(i) for i in range(SCHEMAS)))
        return ids, time.perf_counter() - started


async def main() -> None:
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    seconds = os.environ.get("BENCH_SECONDS", "30")
    clients = os.environ.get("BENCH_CLIENTS", "100")
    async with kafka() as bootstrap:
        with (
            tempfile.TemporaryDirectory(prefix="ndxp-bench-") as data,
            # the registry as Confluent's and Redpanda's figures measure it: open, on loopback
            service(
                "registry", bootstrap, Path(data), workers=workers, NDXP_AUTH_REQUIRE_TOKENS="false"
            ) as url,
        ):
            ids, took = await register_all(url)
            report(
                f"register {SCHEMAS} schemas (20 concurrent, SQLite)",
                {"schemas": len(set(ids)), "seconds": took, "requests_per_second": SCHEMAS / took},
            )
            lookup = run_loadgen(
                "-url",
                url,
                "-mode",
                "get-ids",
                "-c",
                clients,
                "-d",
                f"{seconds}s",
                "-ids",
                str(SCHEMAS),
                "-first-id",
                str(min(ids)),
            )
            report(f"GET /schemas/ids/{{id}}, {clients} clients, {workers} worker(s)", lookup)
            evolve = run_loadgen(
                "-url", url, "-mode", "post-versions", "-c", "10", "-d", "10s", "-subjects", "100"
            )
            report(
                f"POST /subjects/{{s}}/versions (new compatible versions), {workers} worker(s)",
                evolve,
            )


if __name__ == "__main__":
    run(main)
