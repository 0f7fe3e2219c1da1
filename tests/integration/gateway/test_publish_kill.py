"""A gateway process SIGKILLed in the middle of a keyed publish: the retry, on another gateway of
the same hub, is answered within seconds (not refused for a minute) and the batch is on the
topic exactly once, whatever the moment of the kill (before, during or after the commit)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from services.core.kafka.headers import decode_headers
from services.core.local_kafka import free_port
from tests.fixtures.catalog import Hub
from tests.integration.gateway.test_publish import WRITER, consume, make_dataset, post, reading

pytestmark = pytest.mark.faults  # kills or stops parts of a hub: `make test-faults`

JSON = "application/json"
RECORDS = 3000
KILL_AFTER = (0.05, 0.4, 1.0)  # seconds after the request is sent


def start_gateway(hub: Hub, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``ndxp gateway`` on the hub's control plane, issuer and key: a second replica."""
    port = free_port()
    settings = hub.gateway.settings
    kek = settings.auth.key_encryption_key
    assert kek is not None
    env = {
        **os.environ,
        "NDXP_DATA_DIR": str(data_dir),
        "NDXP_KAFKA_BOOTSTRAP": settings.kafka.bootstrap or "",
        "NDXP_DATABASE_URL": settings.database_url,
        "NDXP_AUTH_ISSUER": settings.auth.issuer,
        "NDXP_AUTH_KEY_ENCRYPTION_KEY": kek.get_secret_value(),
        "NDXP_GATEWAY_PORT": str(port),
        "NDXP_GATEWAY_REGISTRY_URL": hub.registry_url,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "gateway"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


async def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(60):
        while True:
            assert process.poll() is None, f"the gateway exited; see {log}"
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)


async def test_a_gateway_killed_mid_publish_the_retry_writes_once(
    hub: Hub, kafka_bootstrap: str, tmp_path: Path
) -> None:
    owner = await hub.caller(*WRITER)
    dataset = await make_dataset(hub, owner, partitions=2)
    records = [reading(i) for i in range(RECORDS)]
    keys, replayed = [], []
    for n, delay in enumerate(KILL_AFTER):
        log = tmp_path / f"gateway-{n}.log"
        process, url = start_gateway(hub, tmp_path / f"replica-{n}", log)
        try:
            await wait_ready(process, url, log)
            key = f"kill-{n}-{uuid.uuid4()}"
            keys.append(key)
            headers = {**owner.headers, "Idempotency-Key": key}
            async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
                body = json.dumps(records).encode()  # the bytes ``post`` sends: the same request
                sent = asyncio.create_task(
                    http.post(dataset.path, content=body, headers={"Content-Type": JSON})
                )
                await asyncio.sleep(delay)
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                with contextlib.suppress(httpx.TransportError):  # killed before it answered
                    await sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)

        started = time.monotonic()
        while True:
            retry = await post(hub, owner, dataset.path, records, **{"Idempotency-Key": key})
            if retry.status_code != 409:
                break
            assert time.monotonic() - started < 20, "the dead gateway's claim did not lapse"
            await asyncio.sleep(0.5)
        assert retry.status_code == 201, retry.text
        assert retry.json()["records"] == RECORDS
        replayed.append(retry.headers.get("idempotent-replayed") == "true")

    on_topic = await consume(kafka_bootstrap, dataset.topic)
    assert len(on_topic) == RECORDS * len(KILL_AFTER)
    per_event = Counter(decode_headers(r.headers)["ndxp-event-id"] for r in on_topic)
    assert set(per_event.values()) == {1}  # no record twice
    # which window each kill hit: replayed = the dead gateway had committed
    logging.getLogger(__name__).info("killed after %s s; replayed: %s", KILL_AFTER, replayed)
