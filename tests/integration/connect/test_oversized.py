"""A source record larger than its topic takes goes to the DLQ with the reason; the connector
keeps running and the records around it arrive (a real worker, a real broker)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.core.kafka.headers import decode_headers
from tests.integration.connect.conftest import Connect, read_topic, register_dataset
from tests.integration.connect.test_file_source import CITIZEN, file_config, wait_for_files
from tests.integration.gateway.test_publish_sizes import set_max_message_bytes


def rows(*notes: str) -> str:
    return "".join(
        json.dumps({"id": str(i), "name": f"Người {i}", "note": note}) + "\n"
        for i, note in enumerate(notes)
    )


async def test_an_oversized_record_is_dead_lettered_not_stuck(
    connect: Connect, registry_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    dataset = await register_dataset(registry_url, kafka_bootstrap, "citizens", CITIZEN)
    await set_max_message_bytes(kafka_bootstrap, dataset.topic, 3000)
    directory = tmp_path / "drop"
    directory.mkdir()
    (directory / "a.jsonl").write_text(rows("small", "x" * 6000, "small too"), "utf-8")
    name = f"files-big-{dataset.agency}"
    config = file_config(dataset, directory, pattern="*.jsonl", batch_size=10)
    async with connect.serve() as http:
        response = await http.post("/connectors", json={"name": name, "config": config})
        assert response.status_code == 201, response.text
        good = await read_topic(kafka_bootstrap, dataset.topic, 2)
        [dead] = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 1)
        await wait_for_files(directory, {"processed": ["a.jsonl"]})
        (directory / "b.jsonl").write_text(rows("after"), "utf-8")
        again = await read_topic(kafka_bootstrap, dataset.topic, 3, settle=1.0)
        status = (await http.get(f"/connectors/{name}/status")).json()
    assert status["connector"]["state"] == "RUNNING"
    assert len(good) == 2 and len(again) == 3
    reason = decode_headers(dead.headers)["ndxp-error"]
    assert "max.message.bytes" in reason and "3000" in reason, reason
    assert json.loads(dead.value)["note"] == "x" * 6000


async def recycles(http: httpx.AsyncClient, reason: str) -> float:
    text = (await http.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "ndxp_producer_recycles"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels == {"reason": reason}
    )


async def test_a_limit_lowered_behind_connects_back_recycles_its_producer(
    connect: Connect, registry_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    dataset = await register_dataset(registry_url, kafka_bootstrap, "citizens", CITIZEN)
    directory = tmp_path / "drop"
    directory.mkdir()
    (directory / "a.jsonl").write_text(rows("first"), "utf-8")
    name = f"files-lowered-{dataset.agency}"
    config = file_config(dataset, directory, pattern="*.jsonl", batch_size=10)
    async with connect.serve() as http:
        response = await http.post("/connectors", json={"name": name, "config": config})
        assert response.status_code == 201, response.text
        await read_topic(kafka_bootstrap, dataset.topic, 1)  # the limit is read: 1 MiB
        before = await recycles(http, "MessageSizeTooLargeError")

        await set_max_message_bytes(kafka_bootstrap, dataset.topic, 3000)
        (directory / "b.jsonl").write_text(rows("small", "x" * 6000), "utf-8")
        [dead] = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 1)
        await read_topic(kafka_bootstrap, dataset.topic, 2)
        (directory / "c.jsonl").write_text(rows("after"), "utf-8")
        on_topic = await read_topic(kafka_bootstrap, dataset.topic, 3, settle=1.0)
        assert await recycles(http, "MessageSizeTooLargeError") == before + 1
        status = (await http.get(f"/connectors/{name}/status")).json()
    assert status["connector"]["state"] == "RUNNING"
    assert len(on_topic) == 3
    assert "3000" in decode_headers(dead.headers)["ndxp-error"]
