"""A source connector's events against ``ndxp up`` as ``make run`` leaves it (tokens everywhere,
SQLite): they carry the headers of every published event (the agency as ``ndxp-producer``, the
connector in ``ndxp-connector``, a ``traceparent``), are counted under ``<agency>.<dataset>`` as
the gateway counts its own, and are in the audit trail."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services import demo
from services.core.kafka.headers import decode_headers
from tests.e2e.test_service_identities import READINGS, cli_env, create_dataset, file_connector
from tests.fixtures.cli import ndxp
from tests.fixtures.hub import Hub
from tests.integration.connect.conftest import read_topic

TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")


@pytest.fixture
def hub(shared_hub: Hub) -> Hub:
    return shared_hub


def published(hub: Hub, dataset: str) -> dict[str, float]:
    """connect's ``ndxp_events_published_total`` of ``dataset``, by channel."""
    scraped = httpx.get(
        f"{hub.url('connect')}/metrics", headers=hub.headers("metrics:read"), timeout=10
    )
    assert scraped.status_code == 200, scraped.text
    return {
        sample.labels["channel"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        if family.name == "ndxp_events_published"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels["dataset"] == dataset
    }


def audited(hub: Hub, dataset: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{hub.gateway}/v1/audit",
        params={"action": "publish", "dataset": dataset},
        headers=hub.headers(),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_a_connectors_events_carry_the_agency_the_connector_and_a_trace(
    hub: Hub, tmp_path: Path
) -> None:
    topic = create_dataset(hub)
    dataset = topic.removesuffix(".v1")
    name, definition = file_connector(tmp_path, topic, hub.data_dir)

    env = cli_env(hub, NDXP_CONNECT_URL=hub.url("connect"))
    applied = ndxp("connect", "apply", str(definition), env=env)
    assert applied.returncode == 0, applied.stderr
    records = await read_topic(f"127.0.0.1:{hub.kafka_port}", topic, len(READINGS))

    headers = [decode_headers(r.headers) for r in records]
    assert {h["ndxp-producer"] for h in headers} == {demo.AGENCY}
    assert {h["ndxp-connector"] for h in headers} == {name}
    assert all(TRACEPARENT.fullmatch(h["traceparent"]) for h in headers)
    assert all(h["ndxp-schema-id"].isdigit() and h["ndxp-event-id"] for h in headers)

    deadline = time.monotonic() + 30
    while (counted := published(hub, dataset)).get("connector") != len(READINGS):
        assert time.monotonic() < deadline, counted
        await asyncio.sleep(0.3)
    while not (trail := audited(hub, dataset)):
        assert time.monotonic() < deadline, "no publish record of the connector"
        await asyncio.sleep(0.3)
    assert {(r["actor_agency"], r["actor_client"]) for r in trail} == {
        (demo.AGENCY, f"connector:{name}")
    }
    assert sum(r["record_count"] for r in trail) == len(READINGS)
    assert {r["details"]["connector"] for r in trail} == {name}
