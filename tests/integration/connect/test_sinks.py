"""Sinks through a real worker: a table replicated through its dataset by sql-source and sql-sink
(with a transform on the way), and webhook-sink delivering signed batches, a refused one to the
DLQ."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import (
    Connect,
    Dataset,
    insert_people,
    publish_people,
    read_topic,
    sql_config,
    until,
    wait_for_state,
)
from tests.integration.connect.webhook_receiver import Receiver

SECRET = "a-webhook-secret-for-the-test-0123456789"


async def rows(url: str, sql: str) -> list[Any]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def test_a_table_replicated_through_its_dataset_with_a_mask_on_the_way(
    connect: Connect, dataset: Dataset, source_url: str
) -> None:
    await insert_people(source_url, range(1, 301))
    engine = create_async_engine(source_url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE people_copy (id BIGINT PRIMARY KEY, name VARCHAR(100), age INTEGER)"
        )
    await engine.dispose()
    source, sink = f"src-{dataset.agency}", f"copy-{dataset.agency}"
    sink_config = {
        "connector.class": "sql-sink",
        "dataset": dataset.ref,
        "errors.tolerance": "all",
        "url": source_url,
        "table": "people_copy",
        "key_fields": ["id"],
        "start": "earliest",  # the rows the source writes while the sink starts too
        "transforms": [{"type": "mask", "fields": ["name"], "keep_last": 3}],
    }
    async with connect.serve() as http:
        for name, config in ((source, sql_config(dataset, source_url)), (sink, sink_config)):
            created = await http.post("/connectors", json={"name": name, "config": config})
            assert created.status_code == 201, created.text

        async def copied(count: int) -> bool:
            found = await rows(source_url, "SELECT COUNT(*) FROM people_copy")
            return bool(found[0][0] == count)

        await until(lambda: copied(300), 60, "300 rows copied")
        await insert_people(source_url, range(301, 311))
        await until(lambda: copied(310), 60, "310 rows copied")
        status = (await http.get(f"/connectors/{sink}/status")).json()
        metrics = (await http.get("/metrics")).text

        async def committed() -> Any:
            body = (await http.get(f"/connectors/{sink}/offsets")).json()
            return (
                body
                if body["offsets"] and body["offsets"][0]["offset"]["kafka_offset"] == 310
                else None
            )

        offsets = await until(committed, 30, "the sink's offsets")
        refused = await http.patch(
            f"/connectors/{sink}/offsets", json={"offsets": [{"offset": {}}]}
        )

    assert status["connector"]["state"] == "RUNNING"
    assert status["type"] == "sink"
    assert offsets["offsets"] == [
        {
            "partition": {"kafka_topic": dataset.topic, "kafka_partition": 0},
            "offset": {"kafka_offset": 310},
        }
    ]
    assert refused.status_code == 400
    assert refused.json()["code"] == "sink_offsets"
    copy = await rows(source_url, "SELECT id, name, age FROM people_copy ORDER BY id")
    assert [row[0] for row in copy] == list(range(1, 311))
    for row_id, name, age in copy:
        original = f"Người {row_id}"
        assert name == "*" * (len(original) - 3) + original[-3:]
        assert age == row_id % 90
    assert f'ndxp_connector_records_total{{connector="{sink}",outcome="delivered"}} 310.0' in (
        metrics
    )


async def test_webhook_sink_signs_batches_and_dead_letters_what_the_endpoint_refuses(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    await insert_people(source_url, range(1, 101))
    receiver = Receiver(SECRET)
    receiver.fail_next(1, 400, body='{"error": "name too long"}')
    source, sink = f"src-{dataset.agency}", f"hook-{dataset.agency}"
    with serve_app(receiver.app()) as endpoint:
        sink_config = {
            "connector.class": "webhook-sink",
            "dataset": dataset.ref,
            "errors.tolerance": "all",
            "url": f"{endpoint.url}/hook",
            "secret": SECRET,
            "batch_size": 10,
            "backoff_seconds": 0.05,
            "start": "earliest",
        }
        async with connect.serve() as http:
            created = await http.post("/connectors", json={"name": sink, "config": sink_config})
            assert created.status_code == 201, created.text
            shown = (await http.get(f"/connectors/{sink}/config")).json()
            assert shown["secret"] == "**********"
            await wait_for_state(http, sink, "RUNNING")
            config = sql_config(dataset, source_url)
            created = await http.post("/connectors", json={"name": source, "config": config})
            assert created.status_code == 201, created.text
            dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{sink}", 10)

            async def delivered() -> bool:
                return len(receiver.records) == 90

            await until(delivered, 60, "90 records delivered")

    assert all(arrival.signed for arrival in receiver.arrivals)
    got = [record["value"]["id"] for record in receiver.records]
    refused = [json.loads(record.value)["id"] for record in dead]
    assert sorted(got + refused) == list(range(1, 101))
    assert refused == list(range(1, 11))  # the first request of ten records
    for record in dead:
        headers = decode_headers(record.headers)
        assert headers["ndxp-connector"] == sink
        assert headers["ndxp-error"].startswith("HTTP 400")
        assert headers[EVENT_ID]
    assert all(record["event_id"] for record in receiver.records)
    assert got == sorted(got)  # one partition, delivered in order


async def test_a_sink_with_tolerance_none_fails_on_a_refused_record_and_commits_nothing(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    await publish_people(kafka_bootstrap, dataset, range(1, 4))
    receiver = Receiver(SECRET)
    receiver.fail_next(1, 422, body='{"error": "unknown ward"}')
    name = f"strict-hook-{dataset.agency}"
    with serve_app(receiver.app()) as endpoint:
        config = hook_config(dataset, endpoint.url, **{"errors.tolerance": "none"})
        async with connect.serve() as http:
            created = await http.post("/connectors", json={"name": name, "config": config})
            assert created.status_code == 201, created.text
            status = await wait_for_state(http, name, "FAILED")
            offsets = (await http.get(f"/connectors/{name}/offsets")).json()
    assert "errors.tolerance is none: HTTP 422" in status["connector"]["trace"]
    # the start placed at offset 0 and nothing committed after it: a restart delivers again
    assert [o["offset"] for o in offsets["offsets"]] == [{"kafka_offset": 0}]
    assert not await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 0, settle=0.5)


async def test_a_paused_sink_shows_its_lag_and_a_resumed_one_none(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    receiver = Receiver(SECRET)
    name = f"lagging-hook-{dataset.agency}"
    labels = {"connector": name, "consumer": "", "dataset": dataset.ref}
    with serve_app(receiver.app()) as endpoint:
        config = hook_config(dataset, endpoint.url)
        async with connect.serve() as http:
            created = await http.post("/connectors", json={"name": name, "config": config})
            assert created.status_code == 201, created.text
            await wait_for_state(http, name, "RUNNING")
            assert (await http.put(f"/connectors/{name}/pause")).status_code == 202
            await wait_for_state(http, name, "PAUSED")
            await publish_people(kafka_bootstrap, dataset, range(1, 51))

            async def lag(wanted: float) -> bool:
                metrics = (await http.get("/metrics")).text
                return sink_lag(metrics, labels) == wanted

            await until(lambda: lag(50), 10, "a lag of 50 records")  # measured every second
            assert receiver.records == []
            assert (await http.put(f"/connectors/{name}/resume")).status_code == 202
            await until(lambda: lag(0), 30, "a lag of 0 once delivered")
            assert len(receiver.records) == 50
            deleted = await http.delete(f"/connectors/{name}")
            assert deleted.status_code == 204, deleted.text
            await until(lambda: lag(-1), 10, "no series once deleted")


def sink_lag(metrics: str, labels: dict[str, str]) -> float:
    """``ndxp_connector_sink_lag_records`` of ``labels``; -1 when there is no such series."""
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == "ndxp_connector_sink_lag_records" and found.labels == labels:
                return float(found.value)
    return -1


def hook_config(dataset: Dataset, endpoint: str, **extra: Any) -> dict[str, Any]:
    """A webhook sink of ``dataset`` to ``endpoint``'s ``/hook``, from the earliest record."""
    return {
        "connector.class": "webhook-sink",
        "dataset": dataset.ref,
        "start": "earliest",
        "url": f"{endpoint}/hook",
        "secret": SECRET,
        **extra,
    }
