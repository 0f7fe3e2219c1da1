"""make bench-small-publish: the latency of one client publishing small batches.

One client of the Go load generator posts the same BENCH_BATCH-record JSON batch (default 10)
to ``POST /v1/datasets/bench.readings-<run>/events`` back to back for BENCH_SECONDS (default 15), on
one gateway process (and a registry for the contract). Each answer is a 201: the batch committed
in Kafka and its ``publish`` audit record durable in the control plane. Prints p50/p99 (target:
p99 under 20 ms) and the gateway's CPU time per request, which a busy machine hardly moves.
BENCH_PROFILE=path records the gateway with py-spy meanwhile (see ``bench.common.profiled``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bench.common import (
    door_env,
    hub_identity,
    kafka,
    measured,
    per_request,
    report,
    run,
    service,
    service_process,
)
from bench.kafka_produce import reading
from bench.sharing import DATASET, prepare
from services.core.local_kafka import free_port


async def main() -> None:
    seconds = int(os.environ.get("BENCH_SECONDS", "15"))
    batch = int(os.environ.get("BENCH_BATCH", "10"))
    async with kafka() as bootstrap:
        with tempfile.TemporaryDirectory(prefix="ndxp-bench-") as tmp:
            data = Path(tmp)
            client_id, secret = hub_identity(data)
            body_file = data / "batch.json"
            body = json.dumps([reading(i) for i in range(batch)]).encode()
            body_file.write_bytes(body)
            gateway_port, registry_port = free_port(), free_port()
            env = door_env(gateway_port, registry_port)
            with (
                service_process("gateway", bootstrap, data, 1, gateway_port, **env) as (
                    gateway,
                    process,
                ),
                service("registry", bootstrap, data, 1, registry_port, **env),
            ):
                token = await prepare(gateway, client_id, secret, body)
                result, used = measured(
                    process.pid, seconds,
                    "-url", gateway, "-mode", "post", "-c", "1", "-status", "201",
                    "-path", f"/v1/datasets/{DATASET}/events", "-body", str(body_file),
                    "-header", f"Authorization: Bearer {token}",
                )  # fmt: skip
    title = f"POST /v1/datasets/{{dataset}}/events, {batch}-record batches, 1 client, 1 process"
    report(title, per_request(result, used))


if __name__ == "__main__":
    run(main)
