"""`ndxp up` as a user runs it: a subprocess that brings up Kafka and three services, and leaves
nothing behind when it is told to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services.core.local_kafka import free_port

READY_TIMEOUT = 120.0


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _check_demo(data_dir: Path, gateway_port: int) -> None:
    """The seeded demo: a client whose credentials only the owner may read, and its dataset."""
    credentials = data_dir / "demo-client.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    client = json.loads(credentials.read_text())
    gateway = f"http://127.0.0.1:{gateway_port}"
    token = httpx.post(
        f"{gateway}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    ).json()["access_token"]
    deadline = time.monotonic() + 30
    while True:
        entry = httpx.get(
            f"{gateway}/v1/catalog/demo.air-quality", headers={"Authorization": f"Bearer {token}"}
        )
        if entry.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert entry.status_code == 200, entry.text
    assert entry.json()["topic"] == "demo.air-quality.v1"


def test_up_serves_three_ready_services_and_stops_everything(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("registry", "gateway", "connect")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env |= {
        "NDXP_DATA_DIR": str(tmp_path / "data"),
        "NDXP_KAFKA_LOCAL_PORT": str(free_port()),
        "NDXP_KAFKA_LOCAL_CONTROLLER_PORT": str(free_port()),
        **{f"NDXP_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        started = time.monotonic()
        pending = dict(ports)
        while pending and time.monotonic() - started < READY_TIMEOUT:
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            for name, port in list(pending.items()):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        del pending[name]
                except httpx.TransportError:
                    pass
            time.sleep(0.5)
        assert not pending, f"not ready: {pending}\n{(tmp_path / 'up.log').read_text()}"

        for port in ports.values():
            body = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
            assert body == {"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}
            assert "ndxp_build_info" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
            # the API documentation is open, though every service requires tokens by default
            assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
            assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["paths"]
        for name, path in (("registry", "/subjects"), ("connect", "/connectors")):
            assert httpx.get(f"http://127.0.0.1:{ports[name]}{path}").status_code == 401

        _check_demo(tmp_path / "data", ports["gateway"])

        family = _descendants(up.pid)
        commands = [_cmdline(pid) for pid in family]
        assert any("kafka.Kafka" in cmd for cmd in commands), commands
        assert sum("services.cli" in cmd for cmd in commands) == 3, commands

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [_cmdline(pid) for pid in family if _alive(pid)]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        log.close()
