"""Where an admin-created sink starts through a real worker: ``earliest`` gets the records written
before it, ``latest`` (the default) only the ones written after it started, a time only the ones
written from then on; a restarted sink continues from its commits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.integration.connect.conftest import Connect, Dataset, publish_people, until
from tests.integration.connect.test_sinks import rows


def sink_config(dataset: Dataset, url: str, table: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "sql-sink",
        "dataset": dataset.ref,
        "url": url,
        "table": table,
        "key_fields": ["id"],
        "auto_create": True,
        **extra,
    }


async def placed(http: httpx.AsyncClient, name: str) -> Any:
    """The sink's committed offsets once it has placed its group (or delivered)."""
    return (await http.get(f"/connectors/{name}/offsets")).json()["offsets"]


async def test_earliest_latest_and_a_time(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    await publish_people(kafka_bootstrap, dataset, range(1, 6))
    await asyncio.sleep(0.05)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await publish_people(kafka_bootstrap, dataset, range(6, 11))
    sinks = {
        "earliest": sink_config(dataset, source_url, "t_earliest", start="earliest"),
        "latest": sink_config(dataset, source_url, "t_latest"),  # the default
        "time": sink_config(dataset, source_url, "t_time", start=cut.isoformat()),
    }
    names = {key: f"{key}-{dataset.agency}" for key in sinks}

    async def ids(table: str) -> list[int]:
        try:
            return [row[0] for row in await rows(source_url, f"SELECT id FROM {table} ORDER BY id")]  # noqa: S608
        except Exception:  # noqa: BLE001 - the sink creates the table with its first batch
            return []

    async with connect.serve() as http:
        for key, config in sinks.items():
            created = await http.post("/connectors", json={"name": names[key], "config": config})
            assert created.status_code == 201, created.text
        latest = await until(lambda: placed(http, names["latest"]), 30, "latest placed")
        assert latest[0]["offset"] == {"kafka_offset": 10}  # the end when it started
        await publish_people(kafka_bootstrap, dataset, range(11, 16))

        async def copied(table: str, count: int) -> bool:
            return len(await ids(table)) == count

        await until(lambda: copied("t_earliest", 15), 30, "every record in t_earliest")
        await until(lambda: copied("t_time", 10), 30, "the later records in t_time")
        await until(lambda: copied("t_latest", 5), 30, "the new records in t_latest")

        # A restart continues from the commits: "latest" is not resolved again.
        assert (await http.post(f"/connectors/{names['latest']}/restart")).status_code == 204
        await publish_people(kafka_bootstrap, dataset, range(16, 18))
        await until(lambda: copied("t_latest", 7), 30, "t_latest after the restart")
        await until(lambda: copied("t_earliest", 17), 30, "t_earliest after the restart")
        await until(lambda: copied("t_time", 12), 30, "t_time after the restart")

    assert await ids("t_earliest") == list(range(1, 18))
    assert await ids("t_time") == list(range(6, 18))
    assert await ids("t_latest") == list(range(11, 18))


async def test_a_start_is_a_key_of_sinks_and_checked(connect: Connect, dataset: Dataset) -> None:
    async with connect.serve() as http:
        bad = sink_config(dataset, "sqlite://", "t", start="yesterday")
        body = (await http.put("/connector-plugins/sql-sink/config/validate", json=bad)).json()
        naive = sink_config(dataset, "sqlite://", "t", start="2025-03-14T09:00:00")
        body_naive = (
            await http.put("/connector-plugins/sql-sink/config/validate", json=naive)
        ).json()
        source = {"connector.class": "file-source", "dataset": dataset.ref, "directory": "drop"}
        refused = await http.post(
            "/connectors",
            json={"name": f"s-{dataset.agency}", "config": {**source, "start": "latest"}},
        )

    def errors(answer: dict[str, Any]) -> list[str]:
        [start] = [c for c in answer["configs"] if c["value"]["name"] == "start"]
        return list(start["value"]["errors"])

    assert body["error_count"] == 1
    assert errors(body)
    assert body_naive["error_count"] == 1  # a time without an offset would be a guess
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"name": "start", "message": "a key of sink connectors only"}
    ]
