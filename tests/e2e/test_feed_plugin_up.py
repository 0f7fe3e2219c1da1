"""The plugin author's guide's last steps on a hub that `ndxp up` runs as a process, with its
production defaults (tokens required everywhere, SQLite), on the session's Kafka: the example
plugin is installed; the agency creates a dataset with the example's contract through the gateway;
an operator applies the example's connector with `ndxp connect apply`, its feed token an
``${env:...}`` reference the workers resolve; the feed's items reach the dataset's topic and the
broken one the DLQ."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from services.core.avro.codec import compile_contract, decode, schema_id_of
from services.core.kafka.headers import decode_headers
from services.core.local_kafka import free_port
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import read_topic
from tests.integration.connect.feed_server import Feed, create_feed_app, doc, rss

EXAMPLE = Path(__file__).parents[2] / "examples" / "ndxp-feed-source"
TOKEN = "feed-token-of-the-ministry"
CONTRACT = json.loads((EXAMPLE / "schemas" / "moj" / "legal-documents.avsc").read_text())
READY_TIMEOUT = 120.0


def connect_client(data_dir: Path, gateway: str) -> dict[str, str]:
    """Connect's own OAuth2 client, made by the operator before the hub starts (README,
    Configuration): the registry requires tokens, of connect's workers too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env["NDXP_DATA_DIR"] = str(data_dir)
    agency = ndxp(
        "agencies", "create", "hub", "--name", "Hub operators", "--kind", "other", env=env
    )
    assert agency.returncode == 0, agency.stderr
    made = ndxp("clients", "create", "hub", "--name", "connect", "--scope", "catalog:read", env=env)
    assert made.returncode == 0, made.stderr
    issued = dict(line.split(": ", 1) for line in made.stdout.splitlines())
    return {
        "NDXP_CONNECT_TOKEN_URL": f"{gateway}/oauth2/token",
        "NDXP_CONNECT_CLIENT_ID": issued["client_id"],
        "NDXP_CONNECT_CLIENT_SECRET": issued["client_secret"],
    }


@contextmanager
def hub(tmp_path: Path, bootstrap: str, **env: str) -> Iterator[dict[str, str]]:
    """`ndxp up` on ``bootstrap`` until the block ends; yields each service's URL."""
    ports = {name: free_port() for name in ("registry", "gateway", "connect")}
    suffix = uuid.uuid4().hex[:8]  # connect's state topics: this hub's own on a shared broker
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")} | env
    environ |= connect_client(tmp_path / "data", f"http://127.0.0.1:{ports['gateway']}")
    environ |= {
        "NDXP_DATA_DIR": str(tmp_path / "data"),
        "NDXP_KAFKA_BOOTSTRAP": bootstrap,
        "NDXP_CONNECT_GROUP": f"ndxp-connect-{suffix}",
        **{
            f"NDXP_CONNECT_{topic.upper()}_TOPIC": f"ndxp.connect-{topic}-{suffix}"
            for topic in ("configs", "offsets", "status", "slots")
        },
        "NDXP_GATEWAY_CONNECT_CONFIGS_TOPIC": f"ndxp.connect-configs-{suffix}",
        **{f"NDXP_{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"],
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        credentials = tmp_path / "data" / "demo-client.json"
        deadline = time.monotonic() + READY_TIMEOUT
        # ready once the demo is seeded: its credentials are written, its dataset created
        while not (credentials.exists() and "demo agency" in log.read_text()):
            assert up.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.3)
        yield urls
    except BaseException:
        print(f"--- ndxp up:\n{log.read_text()[-6000:]}")  # noqa: T201 - the failure report
        raise
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()


def demo_token(data_dir: Path, gateway: str) -> str:
    client = json.loads((data_dir / "demo-client.json").read_text())
    answer = httpx.post(
        f"{gateway}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def create_dataset(gateway: str, token: str, name: str) -> None:
    """As the guide says: POST /v1/datasets with the example's .avsc as ``schema``."""
    body = {
        "name": name,
        "title": "Văn bản quy phạm pháp luật mới",
        "access_rights": "PUBLIC",
        "contact_point": {"name": "Cục Kiểm tra VBQPPL", "email": "vbpl@example.gov.vn"},
        "partitions": 1,
        "schema": CONTRACT,
    }
    answer = httpx.post(
        f"{gateway}/v1/datasets", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 201, answer.text


def ndxp(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_the_example_plugin_on_a_hub_ndxp_up_runs(tmp_path: Path, kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:6]  # the broker is the session's: names of this test's own
    dataset, name = f"legal-documents-{suffix}", f"moj-legal-documents-{suffix}"
    broken = "<item><guid>urn:moj:vbpl:9</guid><title>Thông tư 9</title></item>"
    feed = Feed(rss([doc(1, 0), doc(2, 5)], broken), token=TOKEN)
    with (
        serve_app(create_feed_app(feed, "application/rss+xml")) as server,
        hub(tmp_path, kafka_bootstrap, MOJ_FEED_TOKEN=TOKEN) as urls,
    ):
        token = demo_token(tmp_path / "data", urls["gateway"])
        create_dataset(urls["gateway"], token, dataset)
        definition = yaml.safe_load(
            (EXAMPLE / "connectors" / "moj-legal-documents.yaml").read_text()
        )
        definition["name"] = name
        definition["config"] |= {
            "dataset": f"demo.{dataset}",
            "url": f"{server.url}/feeds/van-ban-moi",
        }
        connector = tmp_path / "connector.yaml"
        connector.write_text(yaml.safe_dump(definition, allow_unicode=True))
        operator = ("--url", urls["connect"], "--token", token)
        applied = ndxp("connect", "apply", str(connector), *operator)
        assert applied.returncode == 0, applied.stdout + applied.stderr

        records = asyncio.run(read_topic(kafka_bootstrap, f"demo.{dataset}.v1", 2, within=60))
        dead = asyncio.run(read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 1, within=30))
        status = ndxp("connect", "status", name, *operator)
        shown = httpx.get(
            f"{urls['connect']}/connectors/{name}/config",
            headers={"Authorization": f"Bearer {token}"},
        ).json()

    values = [decode(r.value, compile_contract(schema_id_of(r.value), CONTRACT)) for r in records]
    assert [(v["id"], v["title"]) for v in values] == [
        ("urn:moj:vbpl:1", "Nghị định 1/2025/NĐ-CP"),
        ("urn:moj:vbpl:2", "Nghị định 2/2025/NĐ-CP"),
    ]
    assert decode_headers(dead[0].headers)["ndxp-error"] == "the item has no <pubDate>"
    assert "RUNNING" in status.stdout, status.stdout + status.stderr
    assert shown["token"] == "${env:MOJ_FEED_TOKEN}"
    assert {r.get("authorization") for r in feed.requests} == {f"Bearer {TOKEN}"}
