"""`ndxp up` as a user runs it: a subprocess that brings up Kafka and three services, and leaves
nothing behind when it is told to stop."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.fixtures.hub import SERVICES, Hub, alive, start_hub


def _check_demo(hub: Hub) -> None:
    """The seeded demo: a client whose credentials only the owner may read, and its dataset."""
    credentials = hub.data_dir / "demo-client.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    entry = httpx.get(f"{hub.gateway}/v1/catalog/demo.air-quality", headers=hub.headers())
    assert entry.status_code == 200, entry.text
    assert entry.json()["topic"] == "demo.air-quality.v1"


def test_up_serves_three_ready_services_and_stops_everything(tmp_path: Path) -> None:
    hub = start_hub(tmp_path)
    try:
        for name in SERVICES:
            body = httpx.get(f"{hub.url(name)}/readyz").json()
            assert body == {
                "status": "ready",
                "checks": {"database": "ok", "kafka": "ok", "startup": "ok"},
            }
            # metrics name datasets: the demo client holds metrics:read, nobody else here does
            scraped = httpx.get(f"{hub.url(name)}/metrics", headers=hub.headers("metrics:read"))
            assert "ndxp_build_info" in scraped.text
            assert httpx.get(f"{hub.url(name)}/metrics").status_code == 401
            narrow = httpx.get(f"{hub.url(name)}/metrics", headers=hub.headers("catalog:read"))
            assert narrow.status_code == 403
            # the API documentation is open, though every service requires tokens by default
            assert httpx.get(f"{hub.url(name)}/docs").status_code == 200
            assert httpx.get(f"{hub.url(name)}/openapi.json").json()["paths"]
        for name, path in (("registry", "/subjects"), ("connect", "/connectors")):
            assert httpx.get(f"{hub.url(name)}{path}").status_code == 401

        _check_demo(hub)

        family = hub.children()
        commands = list(family.values())
        assert any("kafka.Kafka" in cmd for cmd in commands), commands
        assert sum("services.cli" in cmd for cmd in commands) == len(SERVICES), commands

        assert hub.stop() == 0
        deadline = time.monotonic() + 10
        while (left := alive(family)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, [family[pid] for pid in left]
    finally:
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()
