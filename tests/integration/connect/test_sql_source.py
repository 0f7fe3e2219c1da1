"""sql-source end to end: a table → the dataset topic and the DLQ, offsets, and a restart."""

from __future__ import annotations

import asyncio
import json

from services.core.avro.codec import compile_contract, decode
from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.integration.connect.conftest import (
    PERSON,
    Connect,
    Dataset,
    insert_people,
    read_topic,
    sql_config,
    wait_for_state,
)

ROWS = 1000


async def test_rows_arrive_bad_ones_dead_lettered_and_a_restart_resumes(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    bad = await insert_people(source_url, range(1, ROWS + 1), bad_every=100)
    name = f"people-{dataset.agency}"
    async with connect.serve() as http:
        response = await http.post(
            "/connectors", json={"name": name, "config": sql_config(dataset, source_url)}
        )
        assert response.status_code == 201, response.text
        good = await read_topic(kafka_bootstrap, dataset.topic, ROWS - len(bad))
        dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", len(bad))
        assert (await http.get(f"/connectors/{name}/status")).json()["connector"]["state"] == (
            "RUNNING"
        )
        # The offset is committed just after Kafka acknowledged the records the test has read.
        expected = {
            "offsets": [{"partition": {"connector": name}, "offset": {"incrementing": ROWS}}]
        }
        deadline = asyncio.get_running_loop().time() + 30
        while (offsets := (await http.get(f"/connectors/{name}/offsets")).json()) != expected:
            assert asyncio.get_running_loop().time() < deadline, offsets
            await asyncio.sleep(0.2)
        metrics = (await http.get("/metrics")).text
        # all read: the source's backlog, counted every 5 s, comes down to 0
        caught_up = f'ndxp_connector_source_lag_records{{connector="{name}"}} 0.0'
        while caught_up not in (await http.get("/metrics")).text:
            assert asyncio.get_running_loop().time() < deadline + 15, "the backlog stayed"
            await asyncio.sleep(0.5)

    contract = compile_contract(dataset.schema_id, PERSON)
    values = [decode(r.value, contract) for r in good]
    assert sorted(v["id"] for v in values) == sorted(set(range(1, ROWS + 1)) - bad)
    assert all(v["name"] == f"Người {v['id']}" for v in values)
    event_ids = {decode_headers(r.headers)[EVENT_ID] for r in good}
    assert len(event_ids) == len(good)

    assert len(dead) == len(bad)
    for record in dead:
        headers = decode_headers(record.headers)
        assert headers["ndxp-connector"] == name
        position = json.loads(headers["ndxp-source-position"])
        assert position["incrementing"] in bad
        assert "/name" in headers["ndxp-error"]
        assert json.loads(record.value)["id"] == position["incrementing"]

    assert offsets == {
        "offsets": [{"partition": {"connector": name}, "offset": {"incrementing": ROWS}}]
    }
    assert f'ndxp_connector_records_total{{connector="{name}",outcome="written"}} 990.0' in metrics
    assert (
        f'ndxp_connector_records_total{{connector="{name}",outcome="dead_lettered"}} 10.0'
        in metrics
    )

    # A new worker on the same topics resumes after the committed offset: only new rows arrive.
    await insert_people(source_url, range(ROWS + 1, ROWS + 6))
    async with connect.serve() as http:
        await wait_for_state(http, name, "RUNNING")
        again = await read_topic(kafka_bootstrap, dataset.topic, ROWS - len(bad) + 5, settle=1.0)
    assert len(again) == ROWS - len(bad) + 5
    new_ids = [decode(r.value, contract)["id"] for r in again[len(good) :]]
    assert new_ids == list(range(ROWS + 1, ROWS + 6))
