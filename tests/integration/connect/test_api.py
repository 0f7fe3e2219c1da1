"""The Kafka Connect-style REST API: plugins, validation, lifecycle, offsets, errors, tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.config import AuthSettings
from tests.integration.connect.conftest import (
    Connect,
    Dataset,
    connect_settings,
    insert_people,
    read_topic,
    sql_config,
    wait_for_state,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the API does not depend on the source's database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'source.db'}"


async def test_plugins_and_config_validation(connect: Connect) -> None:
    async with connect.serve() as http:
        plugins = (await http.get("/connector-plugins")).json()
        kinds = {p["class"]: p["type"] for p in plugins}
        assert kinds == {
            "feed-source": "source",  # the example third-party plugin `make install` installs
            "file-source": "source",
            "rest-source": "source",
            "soap-source": "source",
            "sql-sink": "sink",
            "sql-source": "source",
            "webhook-sink": "sink",
        }
        sql = next(p for p in plugins if p["class"] == "sql-source")
        assert "incrementing_column" in sql["config_schema"]["properties"]

        bad = {"dataset": "nope", "url": "sqlite://", "mode": "timestamp", "tabel": "x"}
        body = (await http.put("/connector-plugins/sql-source/config/validate", json=bad)).json()
        errors = {c["value"]["name"]: c["value"]["errors"] for c in body["configs"]}
        assert body["error_count"] >= 2
        assert errors["dataset"]
        assert errors["tabel"]  # unknown keys are errors, not ignored

        # Kafka Connect's ConfigInfos: every key, given or not, with its definition and value
        assert body["groups"] == ["Common", "sql-source"]
        configs = {c["definition"]["name"]: c for c in body["configs"]}
        tolerance = configs["errors.tolerance"]
        assert tolerance["definition"]["default_value"] == "all"
        assert tolerance["definition"]["group"] == "Common"
        assert tolerance["value"] == {
            "name": "errors.tolerance",
            "value": "all",
            "recommended_values": ["none", "all"],
            "errors": [],
            "visible": True,
        }
        assert configs["connector.class"]["value"]["value"] == "sql-source"
        assert configs["dataset"]["definition"]["required"] is True
        assert configs["transforms"]["definition"]["type"] == "LIST"
        assert configs["batch_size"]["definition"]["default_value"] == "1000"
        assert "start" not in configs  # a key of sinks
        sink = {"dataset": "moh.people", "url": "sqlite://", "table": "t", "key_fields": ["id"]}
        answer = await http.put("/connector-plugins/sql-sink/config/validate", json=sink)
        sink_keys = {c["definition"]["name"]: c for c in answer.json()["configs"]}
        assert answer.json()["error_count"] == 0
        assert sink_keys["start"]["value"]["value"] == "latest"
        assert sink_keys["start"]["value"]["recommended_values"] == ["earliest", "latest"]
        assert sink_keys["agreement"]["definition"]["group"] == "Common"
        schema = next(p for p in plugins if p["class"] == "sql-sink")["config_schema"]
        assert schema["properties"]["errors.tolerance"]["default"] == "all"
        assert schema["properties"]["start"]["default"] == "latest"
        assert {"connector.class", "dataset", "url", "table"} <= set(schema["required"])

        response = await http.put("/connector-plugins/nope/config/validate", json={})
        assert response.status_code == 404
        response = await http.post("/connectors", json={"name": "bad-one", "config": bad})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert (await http.get("/connectors/missing/status")).status_code == 404


async def test_lifecycle_and_offsets(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    await insert_people(source_url, range(1, 11))
    name = f"life-{dataset.agency}"
    config = sql_config(dataset, source_url)
    async with connect.serve() as http:
        assert (
            await http.post("/connectors", json={"name": name, "config": config})
        ).status_code == 201
        again = await http.post("/connectors", json={"name": name, "config": config})
        assert again.status_code == 409
        assert await http.get("/connectors") and name in (await http.get("/connectors")).json()
        assert (await http.get(f"/connectors/{name}/config")).json() == config
        await read_topic(kafka_bootstrap, dataset.topic, 10)

        assert (await http.put(f"/connectors/{name}/pause")).status_code == 202
        await wait_for_state(http, name, "PAUSED")
        await insert_people(source_url, range(11, 16))
        assert len(await read_topic(kafka_bootstrap, dataset.topic, 10, settle=1.0)) == 10
        assert (await http.put(f"/connectors/{name}/resume")).status_code == 202
        assert len(await read_topic(kafka_bootstrap, dataset.topic, 15)) == 15

        patch = {"offsets": [{"partition": {"connector": name}, "offset": {"incrementing": 3}}]}
        assert (await http.patch(f"/connectors/{name}/offsets", json=patch)).status_code == 409
        assert (await http.put(f"/connectors/{name}/stop")).status_code == 204
        await wait_for_state(http, name, "STOPPED")
        assert (await http.patch(f"/connectors/{name}/offsets", json=patch)).status_code == 200
        offsets = (await http.get(f"/connectors/{name}/offsets")).json()
        assert offsets["offsets"][0]["offset"] == {"incrementing": 3}
        assert (await http.delete(f"/connectors/{name}/offsets")).status_code == 200
        assert (await http.get(f"/connectors/{name}/offsets")).json() == {"offsets": []}

        # Re-read from id 13 after the offset was set back: rows 13..15 again, same event ids.
        await http.patch(
            f"/connectors/{name}/offsets",
            json={"offsets": [{"partition": {}, "offset": {"incrementing": 12}}]},
        )
        assert (await http.put(f"/connectors/{name}/resume")).status_code == 202
        records = await read_topic(kafka_bootstrap, dataset.topic, 18)
        ids = [dict(r.headers)["ndxp-event-id"] for r in records]
        assert ids[-3:] == ids[12:15]

        # A config read back (secrets masked) and PUT as it is must not store the asterisks.
        secret_config = {**config, "url": "postgresql://etl:pw@db.example.vn/hr"}
        shown = (await http.get(f"/connectors/{name}/config")).json()
        assert shown["url"] == config["url"]  # nothing secret in a SQLite path
        stored = await http.put(f"/connectors/{name}/config", json=secret_config)
        assert stored.status_code == 200, stored.text
        shown = (await http.get(f"/connectors/{name}/config")).json()
        assert shown["url"] == "postgresql://etl:**********@db.example.vn/hr"
        refused = await http.put(f"/connectors/{name}/config", json=shown)
        assert refused.status_code == 400
        assert refused.json()["code"] == "invalid_connector_config"

        assert (await http.delete(f"/connectors/{name}")).status_code == 204
        assert (await http.get(f"/connectors/{name}")).status_code == 404


async def test_tolerance_none_fails_on_the_first_bad_record(
    connect: Connect, dataset: Dataset, source_url: str, kafka_bootstrap: str
) -> None:
    await insert_people(source_url, range(1, 11), bad_every=5)
    name = f"strict-{dataset.agency}"
    config = sql_config(dataset, source_url, **{"errors.tolerance": "none"})
    async with connect.serve() as http:
        await http.post("/connectors", json={"name": name, "config": config})
        status = await wait_for_state(http, name, "FAILED")
        assert "errors.tolerance is none" in status["connector"]["trace"]
        assert (await http.get(f"/connectors/{name}/offsets")).json() == {"offsets": []}


async def test_tokens_are_required_by_default(
    connect: Connect, tmp_path: object, kafka_bootstrap: str, registry_url: str
) -> None:
    connect.settings = connect_settings(
        connect.settings.data_dir,
        kafka_bootstrap,
        registry_url,
        "auth",
        auth=AuthSettings(require_tokens=True),
    )
    async with connect.serve() as http:
        assert (await http.get("/connectors")).status_code == 401
        assert (await http.get("/healthz")).status_code == 200
