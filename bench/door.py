"""make bench-door: what an authenticated request costs beside verifying its JWT, in one run.

Four endpoints, each served by one process and loaded by wrk (100 connections, BENCH_SECONDS
each, default 15):

1. the reference: a bare FastAPI route verifying the same RS256 JWT (``bench/door_reference.py``,
   started here with the gateway's JWKS);
2. registry ``GET /schemas/ids/{id}`` with the bearer token;
3. the same with HTTP Basic client credentials (what Confluent clients send);
4. gateway ``GET /v1/catalog/{dataset}`` with the bearer token.

Prints requests/s, p50 and p99 of each and its ratio to the reference (issue 15's goals: registry
at least 0.6 of it, gateway 0.4, p99 < 50 ms). Every answer must be a 200: a run with errors
fails. Needs wrk (``apt-get install wrk``). Configure with BENCH_SECONDS and BENCH_CLIENTS
(default 100).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from bench.common import run
from bench.gateway_auth import door
from services.core.local_kafka import free_port

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@contextmanager
def reference(jwks_url: str, issuer: str) -> Iterator[str]:
    """The bare JWT-verifying route, in its own process."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.door_reference", str(port), jwks_url, issuer, "ndxp"]
    process = subprocess.Popen(argv)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/ref", timeout=2)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the reference route did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, authorization: str, seconds: str, clients: str) -> dict[str, float]:
    """requests/s, p50 and p99 (ms) of ``GET url`` under wrk; fails on any non-200 answer."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("make bench-door needs wrk: apt-get install -y wrk")
    argv = [binary, "-t2", f"-c{clients}", f"-d{seconds}s", "--latency",
            "-H", f"Authorization: {authorization}", url]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"refusals while loading {url}:\n{out}")
    # wrk counts a request unanswered in 2 s as a timeout: slowness, reported, not an error
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors is not None and any(int(n) for n in errors.groups()[:3]):
        raise RuntimeError(f"socket errors while loading {url}:\n{out}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    if rate is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's answer:\n{out}")
    return {
        "timeouts": float(errors.group(4)) if errors else 0.0,
        "requests_per_second": float(rate.group(1)),
        "p50_ms": milliseconds(latency["50"]),
        "p99_ms": milliseconds(latency["99"]),
    }


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def main() -> None:
    seconds = os.environ.get("BENCH_SECONDS", "15")
    clients = os.environ.get("BENCH_CLIENTS", "100")
    dataset = f"door-{uuid.uuid4().hex[:8]}"  # a shared broker keeps the topics of earlier runs
    async with door(1, dataset, partitions=1) as hub:
        async with httpx.AsyncClient(base_url=hub.registry, timeout=60) as http:
            latest = await http.get(
                f"/subjects/bench.{dataset}.v1-value/versions/latest",
                headers={"Authorization": f"Bearer {hub.token}"},
            )
            latest.raise_for_status()
        schema = f"{hub.registry}/schemas/ids/{latest.json()['id']}"
        bearer = f"Bearer {hub.token}"
        with reference(hub.gateway + "/oauth2/jwks", hub.gateway) as ref:
            runs = {
                "reference: bare FastAPI route verifying the RS256 JWT": (ref + "/ref", bearer),
                "registry GET /schemas/ids/{id}, bearer": (schema, bearer),
                "registry GET /schemas/ids/{id}, Basic": (schema, basic(hub.client_id, hub.secret)),
                "gateway GET /v1/catalog/{dataset}, bearer": (
                    f"{hub.gateway}/v1/catalog/bench.{dataset}", bearer),
            }  # fmt: skip
            figures = {name: wrk(url, auth, seconds, clients) for name, (url, auth) in runs.items()}
    print_table(figures, clients, seconds)


def print_table(figures: dict[str, dict[str, float]], clients: str, seconds: str) -> None:
    base = next(iter(figures.values()))["requests_per_second"]
    print(f"wrk, {clients} connections, {seconds} s each, one process per service")
    print(f"{'endpoint':<56} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'>2 s':>5}")
    for name, got in figures.items():
        rate = got["requests_per_second"]
        print(f"{name:<56} {rate:>9,.0f} {got['p50_ms']:>8.1f} {got['p99_ms']:>8.1f} "
              f"{rate / base:>5.2f}x {got['timeouts']:>5.0f}")  # fmt: skip


if __name__ == "__main__":
    run(main)
