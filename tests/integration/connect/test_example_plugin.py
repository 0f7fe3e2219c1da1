"""The example third-party plugin (examples/ndxp-feed-source), installed into the venv as a plugin
author's package would be, run by real connect workers against a feed served over HTTP.

The plugin is found through its entry point, listed by ``GET /connector-plugins`` with its config
schema, and configured from the example's own YAML (its bearer token an ``${env:...}``
reference). Items land on the dataset topic as records of the example's contract with
deterministic event ids; the next poll sends only what is new or updated; an unmappable item is
dead-lettered once with its reason; a worker process SIGKILLed and started again goes on from the
committed offset, losing and repeating nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.connectors.commands import definitions
from services.connectors.failures import event_id
from services.core.avro.codec import compile_contract, decode
from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import (
    Connect,
    Dataset,
    connect_settings,
    read_topic,
    register_dataset,
    until,
)
from tests.integration.connect.feed_server import Entry, Feed, atom, create_feed_app, doc, rss
from tests.integration.connect.processes import WorkerProcess, worker_env, workers

EXAMPLE = Path(__file__).parents[3] / "examples" / "ndxp-feed-source"
CONTRACT = json.loads((EXAMPLE / "schemas" / "moj" / "legal-documents.avsc").read_text())
TOKEN = "feed-token-of-the-ministry"


@pytest.fixture
async def legal_documents(registry_url: str, kafka_bootstrap: str) -> Dataset:
    """A dataset with the example's contract (the registry's lint warns of its namespace only)."""
    return await register_dataset(registry_url, kafka_bootstrap, "legal-documents", CONTRACT)


def example_config(dataset: Dataset, url: str) -> dict[str, Any]:
    """The example's YAML, pointed at the test's feed and dataset."""
    ((name, config),) = list(definitions(EXAMPLE / "connectors" / "moj-legal-documents.yaml"))
    assert name == "moj-legal-documents"
    assert config["errors.tolerance"] == "all"  # the DLQ whatever the default
    return {**config, "dataset": dataset.ref, "url": url, "poll_interval_seconds": 0.3}


def expected(
    entries: list[Entry], link: Callable[[Entry], str], categories: list[str]
) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "title": e.title,
            "link": link(e),
            "summary": None,
            "categories": categories,
            "published": e.updated,
            "updated": e.updated,
        }
        for e in entries
    ]


def check_records(name: str, dataset: Dataset, records: list[Any]) -> list[dict[str, Any]]:
    """The records' values, once each one's event id and key are checked against its item."""
    contract = compile_contract(dataset.schema_id, CONTRACT)
    values = [decode(r.value, contract) for r in records]
    for record, value in zip(records, values, strict=True):
        position = {"id": value["id"], "updated": f"{value['updated']:%Y-%m-%dT%H:%M:%S}.000Z"}
        assert decode_headers(record.headers)[EVENT_ID] == event_id(name, position)
        assert record.key == value["id"].encode()
    return values


async def test_the_example_plugin_runs_in_a_worker_sending_each_version_once(
    connect: Connect, legal_documents: Dataset, kafka_bootstrap: str, monkeypatch: Any
) -> None:
    dataset = legal_documents
    monkeypatch.setenv("MOJ_FEED_TOKEN", TOKEN)  # the worker's environment: it runs in-process
    first = [doc(1, 0), doc(2, 5)]
    no_date = "<item><guid>urn:moj:vbpl:3</guid><title>Thông tư 3</title></item>"
    feed = Feed(rss(first, no_date), token=TOKEN)
    name = f"feed-{dataset.agency}"
    with serve_app(create_feed_app(feed, "application/rss+xml")) as server:
        url = f"{server.url}/feeds/van-ban-moi"
        async with connect.serve() as http:
            plugins = (await http.get("/connector-plugins")).json()
            created = await http.post(
                "/connectors", json={"name": name, "config": example_config(dataset, url)}
            )
            assert created.status_code == 201, created.text
            shown = (await http.get(f"/connectors/{name}/config")).json()
            cycle_one = await read_topic(kafka_bootstrap, dataset.topic, 2)

            # Item 1 is corrected (a new version: a new pubDate), item 4 is new.
            newer = [doc(1, 30, "Nghị định 1/2025/NĐ-CP (đính chính)"), doc(2, 5), doc(4, 20)]
            feed.document = rss(newer, no_date)
            records = await read_topic(kafka_bootstrap, dataset.topic, 4, settle=1.5)
            dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 1, settle=0.5)
            state = (await http.get(f"/connectors/{name}/status")).json()["connector"]["state"]

    (described,) = [p for p in plugins if p["class"] == "feed-source"]
    assert described["type"] == "source"
    assert described["version"] == "0.1.0"
    schema = described["config_schema"]
    # the plugin's own keys beside the shared ones every connector takes
    assert set(schema["required"]) == {"connector.class", "dataset", "url"}
    assert {"url", "token", "poll_interval_seconds", "max_bytes"} <= set(schema["properties"])
    assert {"errors.tolerance", "transforms"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False
    assert shown["token"] == "${env:MOJ_FEED_TOKEN}"  # the reference, never the secret

    def link(e: Entry) -> str:
        return f"{server.url}/van-ban/{e.number}"  # relative links resolved against the feed

    assert check_records(name, dataset, cycle_one) == expected(first, link, ["Nghị định"])
    # Only the new versions after the change, oldest first, and nothing again.
    in_order = [*first, newer[2], newer[0]]
    assert check_records(name, dataset, records) == expected(in_order, link, ["Nghị định"])
    assert state == "RUNNING"
    assert len(dead) == 1  # dead-lettered once, not at every poll
    headers = decode_headers(dead[0].headers)
    assert headers["ndxp-error"] == "the item has no <pubDate>"
    assert headers["ndxp-connector"] == name
    assert json.loads(headers["ndxp-source-position"])["id"] == "urn:moj:vbpl:3"
    assert json.loads(dead[0].value) == {"source": no_date}
    assert all(r.get("authorization") == f"Bearer {TOKEN}" for r in feed.requests)
    assert feed.not_modified > 0  # unchanged feeds are asked for conditionally


async def test_the_example_config_is_checked_against_the_plugin_s_model(connect: Connect) -> None:
    async with connect.serve() as http:
        answer = await http.put(
            "/connector-plugins/feed-source/config/validate",
            json={"dataset": "moj.legal-documents", "url": "ftp://vbpl.example/", "tokn": "x"},
        )
    errors = {c["value"]["name"]: c["value"]["errors"] for c in answer.json()["configs"]}
    assert answer.json()["error_count"] == 2
    assert errors["url"] == ["must be an http:// or https:// URL"]
    assert errors["tokn"] == ["Extra inputs are not permitted"]


async def test_a_worker_killed_and_started_again_neither_loses_nor_repeats_an_item(
    tmp_path: Path, legal_documents: Dataset, kafka_bootstrap: str, registry_url: str
) -> None:
    dataset = legal_documents
    settings = connect_settings(tmp_path, kafka_bootstrap, registry_url, uuid.uuid4().hex[:12])
    env = worker_env(settings) | {"MOJ_FEED_TOKEN": TOKEN}
    entries = [doc(1, 0), doc(2, 10)]
    feed = Feed(atom(entries))
    name = f"feed-atom-{dataset.agency}"
    started: list[WorkerProcess] = []
    async with workers(started):
        with serve_app(create_feed_app(feed, "application/atom+xml")) as server:
            config = example_config(dataset, f"{server.url}/feeds/van-ban-moi")
            worker = WorkerProcess(env, tmp_path / "worker-0.log")
            started.append(worker)
            await worker.start()
            async with httpx.AsyncClient(base_url=worker.url) as http:
                created = await http.post("/connectors", json={"name": name, "config": config})
                assert created.status_code == 201, created.text

                async def committed() -> bool:
                    body = (await http.get(f"/connectors/{name}/offsets")).json()
                    offset = (body.get("offsets") or [{}])[0].get("offset") or {}
                    return len(offset.get("seen", ())) == len(entries)

                await until(committed, 60, "the first poll's offset")
            worker.kill()  # SIGKILL: nothing flushed, the group not left
            committed_etag, asked = feed.etag, len(feed.requests)

            entries = [*entries, doc(3, 20)]
            feed.document = atom(entries)
            worker = WorkerProcess(env, tmp_path / "worker-1.log")
            started.append(worker)
            await worker.start()
            records = await read_topic(kafka_bootstrap, dataset.topic, 3, within=60, settle=2.0)

    def link(e: Entry) -> str:
        return f"https://vbpl.example/van-ban/{e.number}"

    assert check_records(name, dataset, records) == expected(entries, link, [])
    # The new worker went on from the committed offset: it asked for what changed since then.
    assert feed.requests[asked].get("if-none-match") == committed_etag
