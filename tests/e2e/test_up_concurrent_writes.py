"""Concurrent admin writes on a default hub (``ndxp up``: SQLite file, tokens required, its own
Kafka broker): racing the demo seeding, 16 clients creating agencies, clients, datasets and
agreements at once get 201 or 409, never a 500 "database is locked"; and with the broker stalled
(SIGSTOP) writes still answer at once, audited acts are on the record, and the audit topic
catches up once the broker runs again."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.cli import ndxp
from tests.fixtures.hub import Hub, start_hub, stop_all

pytestmark = pytest.mark.faults  # kills or stops parts of a hub: `make test-faults`

WORKERS = 16
CONTRACT = json.dumps(
    {
        "type": "record",
        "name": "Reading",
        "namespace": "vn.gov.test",
        "doc": "A test reading.",
        "fields": [{"name": "value", "type": "int", "doc": "The value read."}],
    }
)


@pytest.fixture
def seeding_hub(tmp_path: Path) -> Iterator[Hub]:
    """A hub started without waiting: the demo is still being seeded when the test begins."""
    hub = start_hub(tmp_path, wait=False)
    try:
        yield hub
    finally:
        stop_all(hub)


def demo_credentials(hub: Hub, within: float = 120) -> tuple[str, str]:
    """The demo client, as soon as ``ndxp up`` wrote it (before the hub is ready)."""
    deadline = time.monotonic() + within
    path = hub.data_dir / "demo-client.json"
    while not path.exists():
        assert hub.process.poll() is None, hub.log
        assert time.monotonic() < deadline, f"no demo client\n{hub.log}"
        time.sleep(0.1)
    found = json.loads(path.read_text())
    return found["client_id"], found["client_secret"]


async def token(http: httpx.AsyncClient, client: tuple[str, str], within: float = 120) -> str:
    """An access token, as soon as the gateway serves (it may still be starting)."""
    deadline = time.monotonic() + within
    while True:
        try:
            answer = await http.post(
                "/oauth2/token", data={"grant_type": "client_credentials"}, auth=client
            )
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code == 200:
            found: str = answer.json()["access_token"]
            return found
        assert answer is None or answer.status_code < 500, answer.text
        assert time.monotonic() < deadline, "the gateway never issued a token"
        await asyncio.sleep(0.1)


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


class Storm:
    """Every answer of the concurrent writers, by what was asked."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.answers: list[tuple[str, int, str]] = []

    async def post(self, what: str, path: str, access_token: str, **kwargs: Any) -> httpx.Response:
        answer = await self.http.post(path, headers=bearer(access_token), **kwargs)
        self.answers.append((what, answer.status_code, answer.text[:300]))
        return answer

    def unexpected(self) -> list[tuple[str, int, str]]:
        return [a for a in self.answers if a[1] not in {201, 409}]


async def worker(storm: Storm, admin: str, i: int) -> tuple[str, str] | None:
    """Agency ``w<i>`` (and the one every worker tries: ``shared``), a client of it, its
    dataset ``w<i>.readings`` (and ``w<i>.readings`` again); the client's credentials."""
    agency = f"w{i}"
    shared = {"id": "shared", "name": "Shared", "kind": "other"}
    await storm.post("agency", "/v1/admin/agencies", admin, json=shared)
    made = await storm.post(
        "agency",
        "/v1/admin/agencies",
        admin,
        json={"id": agency, "name": agency, "kind": "province"},
    )
    if made.status_code != 201:
        return None
    scopes = ["catalog:read", "publish", "agreements:manage", "registry:write"]
    issued = await storm.post(
        "client", f"/v1/admin/agencies/{agency}/clients", admin,
        json={"name": "tool", "scopes": scopes},
    )  # fmt: skip
    if issued.status_code != 201:
        return None
    client = (issued.json()["client_id"], issued.json()["client_secret"])
    own = await token(storm.http, client)
    dataset = {
        "name": "readings", "title": "Readings", "description": "Test readings.",
        "theme": "environment", "access_rights": "PUBLIC", "licence": "CC-BY-4.0",
        "contact_point": {"name": agency, "email": f"{agency}@example.gov.vn"},
        "partitions": 1, "schema": CONTRACT,
    }  # fmt: skip
    for _ in range(2):  # the second is a 409: the name is taken
        await storm.post("dataset", "/v1/datasets", own, json=dataset)
    return client


async def request_agreements(storm: Storm, clients: list[tuple[str, str]]) -> None:
    """Each worker asks for its neighbour's dataset, all at once."""
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat()

    async def ask(i: int, client: tuple[str, str]) -> None:  # client i is of agency w<i>
        body = {"purpose": "test", "legal_basis": "test", "valid_until": until}
        body["dataset"] = f"w{(i + 1) % len(clients)}.readings"
        own = await token(storm.http, client)
        await storm.post("agreement", "/v1/agreements", own, json=body)

    await asyncio.gather(*(ask(i, c) for i, c in enumerate(clients)))


async def storm_the_hub(hub: Hub, admin: str) -> Storm:
    limits = httpx.Limits(max_connections=WORKERS * 2)
    async with httpx.AsyncClient(base_url=hub.gateway, timeout=120, limits=limits) as http:
        storm = Storm(http)
        made = await asyncio.gather(*(worker(storm, admin, i) for i in range(WORKERS)))
        clients = [client for client in made if client is not None]
        assert len(clients) == WORKERS, storm.unexpected()
        await request_agreements(storm, clients)
    return storm


def test_admin_writes_racing_the_seeding_get_201_or_409(seeding_hub: Hub) -> None:
    hub = seeding_hub
    client = demo_credentials(hub)

    async def scenario() -> Storm:
        async with httpx.AsyncClient(base_url=hub.gateway, timeout=30) as http:
            admin = await token(http, client)  # the demo dataset is still being seeded
        return await storm_the_hub(hub, admin)

    storm = asyncio.run(scenario())
    assert storm.unexpected() == []
    counts = {what: sum(1 for a in storm.answers if a[:2] == (what, 201)) for what in
              ("agency", "client", "dataset", "agreement")}  # fmt: skip
    assert counts == {"agency": WORKERS + 1, "client": WORKERS, "dataset": WORKERS,
                      "agreement": WORKERS}  # fmt: skip
    conflicts = sum(1 for a in storm.answers if a[1] == 409)
    assert conflicts == (WORKERS - 1) + WORKERS  # the shared agency, each second dataset
    hub.wait_ready()  # the seeding went through too
    demo = httpx.get(f"{hub.gateway}/v1/catalog/demo.air-quality", headers=hub.headers())
    assert demo.status_code == 200, demo.text
    assert "database is locked" not in hub.log
    verified = audit_verify(hub)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def broker_pid(hub: Hub) -> int:
    [pid] = [pid for pid, cmd in hub.children().items() if "kafka.Kafka" in cmd]
    return pid


def audit_verify(hub: Hub) -> Any:
    return ndxp("audit", "verify", "--kafka", env=hub.env)


def test_a_stalled_broker_does_not_stall_control_plane_writes(seeding_hub: Hub) -> None:
    hub = seeding_hub
    hub.wait_ready()
    admin = hub.headers()
    client = hub.demo_client()
    broker = broker_pid(hub)
    before = len(audit_records(hub, admin))

    os.kill(broker, signal.SIGSTOP)
    try:
        slowest, issued = 0.0, 0
        with httpx.Client(base_url=hub.gateway, timeout=30) as http:
            for i in range(5):
                started = time.monotonic()
                # Audited (token.issue): its record goes to the control plane, Kafka later.
                answer = http.post(
                    "/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client["client_id"], client["client_secret"]),
                )
                assert answer.status_code == 200, answer.text
                issued += 1
                body = {"id": f"stall{i}", "name": "Stalled", "kind": "other"}
                made = http.post("/v1/admin/agencies", json=body, headers=admin)
                assert made.status_code == 201, made.text
                scopes = {"name": "tool", "scopes": ["catalog:read"]}
                made = http.post(f"/v1/admin/agencies/stall{i}/clients", json=scopes, headers=admin)
                assert made.status_code == 201, made.text
                slowest = max(slowest, time.monotonic() - started)
        assert slowest < 3, f"a write waited {slowest:.1f}s behind the stalled broker"
        # verify without --kafka reads the control plane only: every record is there
        intact = ndxp("audit", "verify", env=hub.env)
        assert intact.returncode == 0, intact.stdout + intact.stderr
    finally:
        os.kill(broker, signal.SIGCONT)
    records = audit_records(hub, admin)
    assert sum(1 for r in records[before:] if r["action"] == "token.issue") >= issued

    deadline = time.monotonic() + 60
    while True:  # the relay catches up: every record on the topic, none pending
        verified = audit_verify(hub)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        if "pending" not in verified.stdout:
            break
        assert time.monotonic() < deadline, verified.stdout
        time.sleep(1)
    assert "audit trail intact" in verified.stdout


def audit_records(hub: Hub, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{hub.gateway}/v1/audit", params={"limit": 1000}, headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found
