"""make bench-tokens: ``POST /oauth2/token`` on one gateway process.

Client credentials with HTTP Basic from BENCH_CLIENTS concurrent clients (default 16) of the Go
load generator for BENCH_SECONDS (default 15), after one token that warms the path up. Each
token is a checked secret (scrypt, answered from the verified-secrets cache once checked), an
RS256 signature and a ``token.issue`` audit record (group-committed). Prints tokens/s, p50/p99,
and the gateway's CPU time per token: on a shared, busy machine tokens/s moves with the load,
CPU per token hardly does.

BENCH_PROFILE=path records the gateway with py-spy meanwhile (see ``bench.common.profiled``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import httpx

from bench.common import (
    door_env,
    hub_identity,
    kafka,
    measured,
    per_request,
    report,
    run,
    service_process,
)
from services.core.local_kafka import free_port


async def main() -> None:
    seconds = int(os.environ.get("BENCH_SECONDS", "15"))
    clients = os.environ.get("BENCH_CLIENTS", "16")
    async with kafka() as bootstrap:
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            client_id, secret = hub_identity(data)
            port = free_port()
            env = door_env(port)
            with service_process("gateway", bootstrap, data, 1, port, **env) as (url, process):
                async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                    warm = await http.post(
                        "/oauth2/token",
                        data={"grant_type": "client_credentials"},
                        auth=(client_id, secret),
                    )
                    warm.raise_for_status()
                result, used = measured(
                    process.pid, seconds,
                    "-url", url, "-mode", "token", "-c", clients, "-basic", f"{client_id}:{secret}",
                )  # fmt: skip
    report(f"POST /oauth2/token, {clients} clients, 1 gateway process", per_request(result, used))


if __name__ == "__main__":
    run(main)
