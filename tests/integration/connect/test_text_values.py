"""Text sources through a real worker: CSV cells and a REST API's string numbers land typed on the
dataset topic; rows that cannot be converted go to the DLQ with reasons by default, and fail the
connector with ``errors.tolerance: none``."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from services.core.avro.codec import compile_contract, decode
from services.core.kafka.headers import decode_headers
from tests.fixtures.servers import serve_app
from tests.integration.connect.conftest import (
    PERSON,
    Connect,
    Dataset,
    read_topic,
    register_dataset,
    wait_for_state,
)

VN = timezone(timedelta(hours=7))
READING = {
    "type": "record",
    "name": "Reading",
    "namespace": "vn.gov.test",
    "doc": "A monitoring station's daily reading, as its legacy system exports it.",
    "fields": [
        {"name": "id", "type": "long", "doc": "Reading number."},
        {"name": "site", "type": "string", "doc": "Station code."},
        {"name": "count", "type": "int", "doc": "Samples taken."},
        {"name": "level", "type": "double", "doc": "Measured level."},
        {"name": "ok", "type": "boolean", "doc": "Within limits."},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}, "doc": "Day."},
        {
            "name": "at",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "doc": "When it was read.",
        },
        {"name": "note", "type": ["null", "int"], "default": None, "doc": "Remark code."},
    ],
}
CSV = (
    "id,site,count,level,ok,day,at,note\r\n"
    "1,HN,3,1.5,yes,14/03/2025,14/03/2025 09:30:00,\r\n"
    "2,HCM,abc,2.5,no,15/03/2025,15/03/2025 10:00:00,7\r\n"
    "3,DN,5,x,maybe,31/02/2025,15/03/2025,\r\n"
    "4,HP,6,-0.25,TRUE,01/01/2025,01/01/2025 00:00:00,8\r\n"
)


@pytest.fixture
async def readings(registry_url: str, kafka_bootstrap: str) -> Dataset:
    return await register_dataset(registry_url, kafka_bootstrap, "readings", READING)


def csv_config(dataset: Dataset, directory: Path, **extra: Any) -> dict[str, Any]:
    directory.mkdir()
    (directory / "readings.csv").write_text(CSV, "utf-8")
    return {  # no errors.tolerance: the default sends bad rows to the DLQ
        "connector.class": "file-source",
        "dataset": dataset.ref,
        "directory": str(directory),
        "key_column": "id",
        "min_age_seconds": 0,
        "poll_interval_seconds": 0.2,
        "date_format": "%d/%m/%Y",
        "timestamp_format": "%d/%m/%Y %H:%M:%S",
        **extra,
    }


async def test_a_csv_drop_lands_typed_and_bad_rows_go_to_the_dlq_with_reasons(
    connect: Connect, readings: Dataset, kafka_bootstrap: str, tmp_path: Path
) -> None:
    name = f"csv-{readings.agency}"
    async with connect.serve() as http:
        config = csv_config(readings, tmp_path / "drop")
        created = await http.post("/connectors", json={"name": name, "config": config})
        assert created.status_code == 201, created.text
        good = await read_topic(kafka_bootstrap, readings.topic, 2)
        dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 2)
        assert (await http.get(f"/connectors/{name}/status")).json()["connector"][
            "state"
        ] == "RUNNING"

    contract = compile_contract(readings.schema_id, READING)
    assert [decode(r.value, contract) for r in good] == [
        {
            "id": 1,
            "site": "HN",
            "count": 3,
            "level": 1.5,
            "ok": True,
            "day": date(2025, 3, 14),
            "at": datetime(2025, 3, 14, 9, 30, tzinfo=VN).astimezone(UTC),
            "note": None,
        },
        {
            "id": 4,
            "site": "HP",
            "count": 6,
            "level": -0.25,
            "ok": True,
            "day": date(2025, 1, 1),
            "at": datetime(2025, 1, 1, tzinfo=VN).astimezone(UTC),
            "note": 8,
        },
    ]
    reasons = [decode_headers(r.headers)["ndxp-error"] for r in dead]
    positions = [json.loads(decode_headers(r.headers)["ndxp-source-position"]) for r in dead]
    assert [p["row"] for p in positions] == [2, 3]
    assert (
        reasons[0]
        == "cannot convert to the contract's types: /count: cannot be read as int: not a number"
    )
    for problem in (
        "/level: cannot be read as double",
        "/ok: cannot be read as boolean",
        "/day: cannot be read as date",
        "/at: cannot be read as timestamp-millis",
    ):
        assert problem in reasons[1]


async def test_with_tolerance_none_the_first_unconvertible_row_fails_the_connector(
    connect: Connect, readings: Dataset, kafka_bootstrap: str, tmp_path: Path
) -> None:
    name = f"strict-csv-{readings.agency}"
    config = csv_config(readings, tmp_path / "drop", **{"errors.tolerance": "none"})
    async with connect.serve() as http:
        await http.post("/connectors", json={"name": name, "config": config})
        status = await wait_for_state(http, name, "FAILED")
        assert (await http.get(f"/connectors/{name}/offsets")).json() == {"offsets": []}
    trace = status["connector"]["trace"]
    assert "errors.tolerance is none" in trace
    assert "/count: cannot be read as int" in trace
    assert not await read_topic(kafka_bootstrap, readings.topic, 0, settle=0.5)


async def test_a_rest_apis_string_numbers_are_converted(
    connect: Connect, dataset: Dataset, kafka_bootstrap: str
) -> None:
    items = [
        {"id": "1", "name": "Người 1", "age": "33"},
        {"id": "2", "name": "Người 2", "age": "ba mươi"},
        {"id": 3, "name": "Người 3", "age": " 40 "},
    ]
    api = FastAPI()

    @api.get("/people")
    async def people() -> list[dict[str, Any]]:
        return items

    name = f"rest-{dataset.agency}"
    with serve_app(api) as server:
        config = {
            "connector.class": "rest-source",
            "dataset": dataset.ref,
            "url": f"{server.url}/people",
            "id_field": "id",
            "poll_interval_seconds": 60,
        }
        async with connect.serve() as http:
            created = await http.post("/connectors", json={"name": name, "config": config})
            assert created.status_code == 201, created.text
            good = await read_topic(kafka_bootstrap, dataset.topic, 2)
            [dead] = await read_topic(kafka_bootstrap, f"ndxp.dlq.{name}", 1)

    contract = compile_contract(dataset.schema_id, PERSON)
    assert [decode(r.value, contract) for r in good] == [
        {"id": 1, "name": "Người 1", "age": 33},
        {"id": 3, "name": "Người 3", "age": 40},
    ]
    reason = decode_headers(dead.headers)["ndxp-error"]
    assert (
        reason
        == "cannot convert to the contract's types: /age: cannot be read as int: not a number"
    )
