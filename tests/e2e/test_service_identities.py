"""The default hub works as ``make run`` leaves it: tokens required everywhere, nothing exported.

One ``ndxp up`` for the module. Connect gets its own identity and its connectors run; the CLI
takes credentials the same way for every command (the data dir's demo client when given none),
and tells a refusal in one line; ``ndxp audit verify --kafka`` finds the hub's broker.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from services import demo
from services.core.local_kafka import free_port
from tests.fixtures.cli import clean_env, ndxp, serving
from tests.fixtures.hub import Hub, running_hub
from tests.integration.connect.conftest import read_topic

REPO = Path(__file__).resolve().parents[2]
READINGS = [
    {"station_code": f"HN-{i:02}", "province_code": 1, "measured_at": 1_700_000_000_000 + i,
     "pm25": 10.5 + i, "aqi": 40 + i}
    for i in range(3)
]  # fmt: skip


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("default-hub")) as running:
        yield running


def cli_env(hub: Hub, **extra: str) -> dict[str, str]:
    """A shell on the hub's machine: its data dir (where the demo client is) and its gateway."""
    return clean_env(NDXP_DATA_DIR=str(hub.data_dir), NDXP_GATEWAY_URL=hub.gateway, **extra)


def create_dataset(hub: Hub) -> str:
    """A dataset of the demo agency, made through the gateway; its topic."""
    name = f"air-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "title": "Air quality readings",
        "description": "Readings dropped as files by a legacy system.",
        "theme": "environment",
        "access_rights": "PUBLIC",
        "licence": "CC-BY-4.0",
        "contact_point": {"name": "Demo agency", "email": "demo@example.gov.vn"},
        "partitions": 1,
        "schema": json.dumps(demo.CONTRACT),
    }
    created = httpx.post(f"{hub.gateway}/v1/datasets", json=body, headers=hub.headers(), timeout=30)
    assert created.status_code == 201, created.text
    return f"{demo.AGENCY}.{name}.v1"


def file_connector(tmp_path: Path, topic: str, data_dir: Path) -> tuple[str, Path]:
    """Readings dropped in a directory and the YAML of a file-source connector taking them. The
    drop is under the worker's ``<data dir>/drops``, where file connectors may read by default."""
    name = f"files-{uuid.uuid4().hex[:8]}"
    drop = data_dir / "drops" / name
    drop.mkdir(parents=True)
    (drop / "readings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in READINGS))
    config = {
        "connector.class": "file-source",
        "dataset": topic.removesuffix(".v1"),
        "directory": str(drop),
        "key_column": "station_code",
        "min_age_seconds": 0,
        "poll_interval_seconds": 0.2,
    }
    path = tmp_path / "connectors.yaml"
    path.write_text(yaml.safe_dump({"connectors": [{"name": name, "config": config}]}))
    return name, path


def wait_running(hub: Hub, url: str, name: str) -> None:
    """Until the worker at ``url`` says the connector runs (then ``ndxp connect list`` agrees)."""
    headers, deadline = hub.headers(), time.monotonic() + 60
    while True:
        status = httpx.get(f"{url}/connectors/{name}/status", headers=headers, timeout=10)
        state = status.json()["connector"]["state"] if status.status_code == 200 else "missing"
        if state == "RUNNING":
            break
        assert state in {"UNASSIGNED", "missing"}, status.text
        assert time.monotonic() < deadline, status.text
        time.sleep(0.3)
    listed = ndxp("connect", "list", "--url", url, env=cli_env(hub))
    assert listed.returncode == 0, listed.stderr
    assert f"{name}\tRUNNING" in listed.stdout


def system_clients(hub: Hub) -> dict[str, str]:
    """The system agency's clients and their scopes, as ``ndxp clients list ndxp`` shows them."""
    listed = ndxp("clients", "list", "ndxp", env=cli_env(hub))
    assert listed.returncode == 0, listed.stderr
    return {f[0]: f[2] for f in (line.split("\t") for line in listed.stdout.splitlines())}


def reads_contracts_as_the_system_agency(hub: Hub, own: dict[str, str], topic: str) -> None:
    """The gateway issues the identity's token (agency ``ndxp``, its one scope) and the registry
    takes it for reads."""
    issued = httpx.post(f"{hub.gateway}/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(own["client_id"], own["client_secret"]), timeout=30)  # fmt: skip
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert (claims["agency"], claims["scope"]) == ("ndxp", "catalog:read")
    reads = httpx.get(
        f"{hub.url('registry')}/subjects", headers={"Authorization": f"Bearer {token}"}
    )
    assert reads.status_code == 200 and f"{topic}-value" in reads.json()


async def test_a_connector_applied_with_nothing_exported_runs_and_its_records_land(
    hub: Hub, tmp_path: Path
) -> None:
    topic = create_dataset(hub)
    name, definition = file_connector(tmp_path, topic, hub.data_dir)
    env = cli_env(hub, NDXP_CONNECT_URL=hub.url("connect"))

    applied = ndxp("connect", "apply", str(definition), env=env)  # the demo client's token
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == f"{name}: created"
    records = await read_topic(f"127.0.0.1:{hub.kafka_port}", topic, len(READINGS))
    assert sorted(r.key for r in records) == [b"HN-00", b"HN-01", b"HN-02"]
    assert all(r.value[0] == 0 for r in records)  # Confluent wire format, under the contract
    wait_running(hub, hub.url("connect"), name)

    identity = hub.data_dir / "identities" / "connect.json"
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    own = json.loads(identity.read_text())
    assert system_clients(hub) == {own["client_id"]: "catalog:read"}  # the least that reads
    reads_contracts_as_the_system_agency(hub, own, topic)
    assert "Traceback" not in hub.log
    assert "alembic" not in hub.log  # ndxp logs the revision; Alembic's INFO lines stay out


def test_connect_started_alone_gets_its_own_identity_and_given_credentials_win(
    hub: Hub, tmp_path: Path
) -> None:
    created = ndxp("clients", "create", "demo", "--name", "worker", "--scope", "catalog:read",
                   env=cli_env(hub))  # fmt: skip
    assert created.returncode == 0, created.stderr
    given = dict(line.split(": ", 1) for line in created.stdout.splitlines())
    secret_file = tmp_path / "secret"
    secret_file.write_text(given["client_secret"] + "\n")
    before = system_clients(hub)

    given_env = {
        "NDXP_CONNECT_CLIENT_ID": given["client_id"],
        "NDXP_CONNECT_CLIENT_SECRET_FILE": str(secret_file),
    }
    for label, extra in (("own", {}), ("given", given_env)):
        data_dir = tmp_path / label  # another machine's data dir, on the hub's control plane
        with lone_connect(hub, data_dir, extra) as url:
            name, definition = file_connector(data_dir, create_dataset(hub), data_dir)
            applied = ndxp("connect", "apply", str(definition), "--url", url, env=cli_env(hub))
            assert applied.returncode == 0, applied.stderr
            wait_running(hub, url, name)

    own = json.loads((tmp_path / "own" / "identities" / "connect.json").read_text())
    after = system_clients(hub)
    assert after == before | {own["client_id"]: "catalog:read"}  # one more, nothing rotated
    assert not (tmp_path / "given" / "identities").exists()  # given credentials: nothing made


@contextlib.contextmanager
def lone_connect(hub: Hub, data_dir: Path, extra: dict[str, str]) -> Iterator[str]:
    """``ndxp connect`` as its own process on the hub's broker, control plane, registry and
    gateway, with a data dir and connect topics of its own; its URL."""
    suffix, port = uuid.uuid4().hex[:8], free_port()
    env = clean_env(
        NDXP_DATA_DIR=str(data_dir),
        NDXP_DATABASE_URL=f"sqlite:///{hub.data_dir / 'ndxp.db'}",
        NDXP_KAFKA_BOOTSTRAP=f"127.0.0.1:{hub.kafka_port}",
        NDXP_AUTH_ISSUER=hub.gateway,
        NDXP_CONNECT_REGISTRY_URL=hub.url("registry"),
        NDXP_CONNECT_GROUP=f"lone-{suffix}",
        **{
            f"NDXP_CONNECT_{kind.upper()}_TOPIC": f"ndxp.connect-{kind}-{suffix}"
            for kind in ("configs", "offsets", "status", "slots")
        },
        **extra,
    )
    log = data_dir.parent / f"{data_dir.name}.log"
    url = f"http://127.0.0.1:{port}"
    with serving(["connect", "--port", str(port)], env, log, lambda _: _ready(url)):
        yield url
        assert "Traceback" not in log.read_text()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_schemas_check_takes_credentials_like_every_command(hub: Hub, tmp_path: Path) -> None:
    check = ["schemas", "check", "--registry", hub.url("registry"), "--root", str(REPO)]
    nowhere = str(tmp_path / "elsewhere")  # a data dir without a demo client

    with_demo = ndxp(*check, env=cli_env(hub))
    assert with_demo.returncode == 0, with_demo.stderr
    assert "mps.residence-changes.v1-value: new" in with_demo.stdout.splitlines()
    with_token = ndxp(*check, "--token", hub.token(), env=clean_env(NDXP_DATA_DIR=nowhere))
    assert (with_token.returncode, with_token.stdout) == (0, with_demo.stdout)

    client_id = hub.demo_client()["client_id"]
    wrong = clean_env(NDXP_DATA_DIR=nowhere, NDXP_GATEWAY_URL=hub.gateway,
                      NDXP_CLIENT_ID=client_id, NDXP_CLIENT_SECRET="wrong")  # fmt: skip
    refused = ndxp(*check, env=wrong)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"ndxp schemas check: 401 from {hub.gateway}/oauth2/token: "
        f"tried client {client_id} from NDXP_CLIENT_ID/NDXP_CLIENT_SECRET\n"
    )
    anonymous = ndxp(*check, env=clean_env(NDXP_DATA_DIR=nowhere))
    assert anonymous.returncode == 1
    (line,) = anonymous.stderr.splitlines()
    assert line.startswith(f"ndxp schemas check: 401 from {hub.url('registry')}/subjects/")
    assert line.endswith(f"tried no credentials (none given, and no {nowhere}/demo-client.json)")


def test_audit_verify_finds_the_hub_s_broker(hub: Hub) -> None:
    verified = ndxp("audit", "verify", "--kafka", env=clean_env(NDXP_DATA_DIR=str(hub.data_dir)))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("audit trail intact: ")
    assert verified.stderr == ""  # nothing of Alembic's


def test_ndxp_token_prints_a_token_of_the_credentials_given(hub: Hub, tmp_path: Path) -> None:
    def me(token: str) -> dict[str, object]:
        answer = httpx.get(f"{hub.gateway}/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        found: dict[str, object] = answer.json()
        return found

    demo_token = ndxp("token", env=cli_env(hub))
    assert demo_token.returncode == 0, demo_token.stderr
    assert me(demo_token.stdout.strip())["client_id"] == hub.demo_client()["client_id"]

    narrowed = ndxp("token", "--scope", "publish catalog:read", env=cli_env(hub))
    assert narrowed.returncode == 0, narrowed.stderr
    assert me(narrowed.stdout.strip())["scopes"] == ["catalog:read", "publish"]

    client = hub.demo_client()
    nowhere = clean_env(NDXP_DATA_DIR=str(tmp_path / "elsewhere"), NDXP_GATEWAY_URL=hub.gateway)
    given = ndxp("token", "--client-id", client["client_id"],
                 "--client-secret", client["client_secret"], env=nowhere)  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert me(given.stdout.strip())["agency"] == "demo"

    refused = ndxp("token", "--client-id", client["client_id"], "--client-secret", "x", env=nowhere)
    assert (refused.returncode, refused.stdout) == (1, "")
    (line,) = refused.stderr.splitlines()
    assert line.startswith(
        f"ndxp token: the token endpoint {hub.gateway}/oauth2/token answered 401"
    )
    assert line.endswith(f"tried client {client['client_id']} from --client-id/--client-secret")
    none = ndxp("token", env=nowhere)
    assert none.returncode == 2
    assert "no client to get a token for" in none.stderr


def publish_readings(hub: Hub, topic: str, readings: list[dict[str, object]]) -> None:
    dataset = topic.removesuffix(".v1")
    answer = httpx.post(f"{hub.gateway}/v1/datasets/{dataset}/events", json=readings,
                        headers=hub.headers(), timeout=30)  # fmt: skip
    assert answer.status_code == 201, answer.text


def rows_of(database: Path, want: int) -> list[tuple[object, ...]]:
    """The sink's table once it holds ``want`` rows (sorted), within a minute."""
    deadline = time.monotonic() + 60
    while True:
        rows: list[tuple[object, ...]] = []
        if database.exists():
            with (
                contextlib.closing(sqlite3.connect(database)) as db,
                contextlib.suppress(sqlite3.OperationalError),  # the table is not made yet
            ):
                rows = db.execute("SELECT station_code, aqi FROM readings").fetchall()
        if len(rows) >= want or time.monotonic() > deadline:
            return sorted(rows)
        time.sleep(0.3)


def test_admin_sinks_start_where_told_on_the_default_hub(hub: Hub, tmp_path: Path) -> None:
    topic = create_dataset(hub)
    publish_readings(hub, topic, READINGS[:2])  # before either sink exists
    sinks = {}
    for start in ("earliest", "latest"):
        name = f"sink-{start}-{uuid.uuid4().hex[:6]}"
        sinks[start] = tmp_path / f"{start}.db"
        config = {
            "connector.class": "sql-sink",
            "dataset": topic.removesuffix(".v1"),
            "url": f"sqlite:///{sinks[start]}",
            "table": "readings",
            "key_fields": ["station_code"],
            "auto_create": True,
            "start": start,
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"connectors": [{"name": name, "config": config}]}))
        applied = ndxp("connect", "apply", str(path), "--url", hub.url("connect"),
                       env=cli_env(hub))  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        wait_running(hub, hub.url("connect"), name)
    publish_readings(hub, topic, READINGS[2:])

    assert rows_of(sinks["earliest"], 3) == [("HN-00", 40), ("HN-01", 41), ("HN-02", 42)]
    assert rows_of(sinks["latest"], 1) == [("HN-02", 42)]
