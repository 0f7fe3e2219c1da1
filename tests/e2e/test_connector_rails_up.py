"""Hostile connector configs against ``ndxp up`` as ``make run`` leaves it (tokens everywhere,
SQLite, no ``NDXP_PUSH_ALLOWED_NETWORKS``): a webhook to a spelling of loopback never connects and
dead-letters with the reason; credentials are masked on every read; an agency without ``admin``
sees none of the operator's connectors; file and SQL connectors stay inside their rails.

Only loopback listeners; the webhook's listener is a bare socket whose backlog shows whether any
connection ever reached it."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from services.connectors.failures import ERROR_HEADER
from services.connectors.secrets import MASK
from tests.e2e.test_service_identities import READINGS, cli_env, create_dataset, wait_running
from tests.fixtures.cli import ndxp
from tests.fixtures.hub import Hub, running_hub
from tests.integration.connect.conftest import read_topic


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("rails-hub")) as running:
        yield running


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that accepts nothing itself: a connection would wait in its backlog."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def reached(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def publish(hub: Hub, topic: str) -> None:
    dataset = topic.removesuffix(".v1")
    answer = httpx.post(
        f"{hub.gateway}/v1/datasets/{dataset}/events", json=READINGS, headers=hub.headers(),
        timeout=30,
    )  # fmt: skip
    assert answer.status_code in (200, 201), answer.text


async def test_a_webhook_to_loopback_dead_letters_and_its_config_stays_masked(
    hub: Hub, listener: socket.socket
) -> None:
    topic = create_dataset(hub)
    name = f"hook-{uuid.uuid4().hex[:8]}"
    port = listener.getsockname()[1]
    config = {
        "connector.class": "webhook-sink",
        "dataset": topic.removesuffix(".v1"),
        "url": f"https://127.1:{port}/hook?access_token=t0ps3cret&page=1",
        "secret": "s3cret-of-the-hook",
        "headers": {"Authorization": "Bearer abc.def", "X-Api-Key": "k-123", "Accept": "*/*"},
        "start": "earliest",
        "max_attempts": 2,
        "backoff_seconds": 0.1,
        "max_backoff_seconds": 0.2,
    }
    connect = hub.url("connect")
    admin = httpx.AsyncClient(base_url=connect, headers=hub.headers(), timeout=30)
    reader = httpx.AsyncClient(  # the demo agency's token without admin
        base_url=connect, headers={"Authorization": f"Bearer {hub.token('catalog:read')}"}
    )
    async with admin, reader:
        created = await admin.post("/connectors", json={"name": name, "config": config})
        assert created.status_code == 201, created.text
        wait_running(hub, connect, name)
        publish(hub, topic)

        dead = await read_topic(f"127.0.0.1:{hub.kafka_port}", f"ndxp.dlq.{name}", len(READINGS))
        reasons = {dict(r.headers)[ERROR_HEADER].decode() for r in dead}
        assert len(reasons) == 1, reasons
        (reason,) = reasons
        assert "the destination 127.1 (127.0.0.1) is loopback: not allowed on this hub" in reason
        assert reason.endswith("after 2 attempt(s)")
        assert not reached(listener)

        shown = await admin.get(f"/connectors/{name}/config")
        body = shown.json()
        assert body["url"] == f"https://127.1:{port}/hook?access_token={MASK}&page=1"
        assert body["headers"] == {"Authorization": MASK, "X-Api-Key": MASK, "Accept": "*/*"}
        assert body["secret"] == MASK
        exported = ndxp("connect", "export", env=cli_env(hub, NDXP_CONNECT_URL=connect))
        assert exported.returncode == 0, exported.stderr
        for secret in ("t0ps3cret", "abc.def", "k-123", "s3cret-of-the-hook"):
            assert secret not in shown.text + exported.stdout

        assert (await reader.get("/connectors")).json() == []
        for tail in ("", "/config", "/status", "/offsets"):
            hidden = await reader.get(f"/connectors/{name}{tail}")
            assert hidden.status_code == 404, hidden.text


def test_file_and_sql_connectors_stay_inside_their_rails(hub: Hub, tmp_path: Path) -> None:
    topic = create_dataset(hub)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    config = {"connector.class": "file-source", "dataset": topic.removesuffix(".v1"),
              "directory": str(outside), "key_column": "station_code"}  # fmt: skip
    definition = tmp_path / "connectors.yaml"
    definition.write_text(yaml.safe_dump({"connectors": [{"name": "drops", "config": config}]}))
    env = cli_env(hub, NDXP_CONNECT_URL=hub.url("connect"))
    applied = ndxp("connect", "apply", str(definition), env=env)
    assert applied.returncode == 1
    assert "is outside the directories file connectors may read" in applied.stderr
    checked = httpx.put(
        f"{hub.url('connect')}/connector-plugins/file-source/config/validate", json=config,
        headers=hub.headers(), timeout=30,
    )  # fmt: skip
    (error,) = [c["value"] for c in checked.json()["configs"] if c["value"]["errors"]]
    drops = (hub.data_dir / "drops").resolve()
    assert error["errors"] == [
        f"{outside.resolve()} is outside the directories file connectors may read "
        f"(NDXP_CONNECT_FILE_BASE_DIRS: {drops})"
    ]

    control = {"connector.class": "sql-source", "dataset": topic.removesuffix(".v1"),
               "url": f"sqlite:///{hub.data_dir / 'ndxp.db'}", "table": "agencies",
               "mode": "bulk", "mapping": {"station_code": "id"}}  # fmt: skip
    refused = httpx.post(
        f"{hub.url('connect')}/connectors", json={"name": "cp", "config": control},
        headers=hub.headers(), timeout=30,
    )  # fmt: skip
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["name"] == "url"
    assert "control-plane database" in refused.text
    listed = httpx.get(f"{hub.url('connect')}/connectors", headers=hub.headers(), timeout=10)
    assert "drops" not in listed.json() and "cp" not in listed.json()
