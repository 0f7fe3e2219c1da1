"""The plugin author's guide's last steps on a hub that `ndxp up` runs as a process, with its
production defaults (tokens required everywhere, SQLite, its own broker) and nothing exported to
connect or the CLI: the example plugin is installed; the agency creates a dataset with the
example's contract through the gateway; an operator applies the example's connector with
`ndxp connect apply`, its feed token an ``${env:...}`` reference the workers resolve; the feed's
items reach the dataset's topic and the broken one the DLQ."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import yaml

from services.core.avro.codec import compile_contract, decode, schema_id_of
from services.core.kafka.headers import decode_headers
from tests.fixtures.cli import clean_env, ndxp
from tests.fixtures.hub import running_hub
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import read_topic
from tests.integration.connect.feed_server import Feed, create_feed_app, doc, rss

EXAMPLE = Path(__file__).parents[2] / "examples" / "ndxp-feed-source"
TOKEN = "feed-token-of-the-ministry"
CONTRACT = json.loads((EXAMPLE / "schemas" / "moj" / "legal-documents.avsc").read_text())


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


def test_the_example_plugin_on_a_hub_ndxp_up_runs(tmp_path: Path) -> None:
    dataset, name = "legal-documents", "moj-legal-documents"
    broken = "<item><guid>urn:moj:vbpl:9</guid><title>Thông tư 9</title></item>"
    feed = Feed(rss([doc(1, 0), doc(2, 5)], broken), token=TOKEN)
    with (
        serve_app(create_feed_app(feed, "application/rss+xml")) as server,
        running_hub(tmp_path, {"MOJ_FEED_TOKEN": TOKEN}) as hub,
    ):
        bootstrap = f"127.0.0.1:{hub.kafka_port}"
        create_dataset(hub.gateway, hub.token(), dataset)
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
        # an operator's shell on the hub's machine: nothing exported but where the hub is
        shell = clean_env(NDXP_DATA_DIR=str(hub.data_dir), NDXP_GATEWAY_URL=hub.gateway)
        operator = ("--url", hub.url("connect"))
        applied = ndxp("connect", "apply", str(connector), *operator, env=shell)
        assert applied.returncode == 0, applied.stdout + applied.stderr

        records = asyncio.run(read_topic(bootstrap, f"demo.{dataset}.v1", 2, within=60))
        dead = asyncio.run(read_topic(bootstrap, f"ndxp.dlq.{name}", 1, within=30))
        status = ndxp("connect", "status", name, *operator, env=shell)
        shown = httpx.get(
            f"{hub.url('connect')}/connectors/{name}/config", headers=hub.headers()
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
