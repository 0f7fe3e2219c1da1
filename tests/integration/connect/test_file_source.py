"""file-source end to end: files dropped in a directory → the dataset topic and the DLQ through a
real connect worker and Kafka; the files moved to processed/ and failed/, and a restart."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from services.core.avro.codec import compile_contract, decode
from services.core.kafka.headers import EVENT_ID, decode_headers
from tests.fixtures.encodings import cp1258
from tests.integration.connect.conftest import (
    Connect,
    Dataset,
    read_topic,
    register_dataset,
    wait_for_state,
)

# CSV and XML values are strings: typing them is the cast transform's job, not this test's.
CITIZEN = {
    "type": "record",
    "name": "Citizen",
    "namespace": "vn.gov.test",
    "doc": "A citizen as a ministry's legacy export lists them.",
    "fields": [
        {"name": "id", "type": "string", "doc": "Citizen number."},
        {"name": "name", "type": "string", "doc": "Full name, NFC."},
        {"name": "note", "type": ["null", "string"], "default": None, "doc": "Remark, if any."},
    ],
}
UTF8_PEOPLE = {"1": "Nguyễn Thị Hồng Nhung", "2": "Đặng Văn Lâm", "3": "Trần Quốc Việt"}
CP1258_PEOPLE = {"4": "Phạm Ngọc Ánh", "5": "Lê Thị Thuỷ", "6": "Võ Nguyên Giáp"}
JSONL_PEOPLE = {"7": "Huỳnh Tấn Phát", "8": "Hồ Xuân Hương"}
XML_PEOPLE = {"9": "Ngô Bảo Châu", "10": "Bùi Thị Xuân"}
ALL = UTF8_PEOPLE | CP1258_PEOPLE | JSONL_PEOPLE | XML_PEOPLE


@pytest.fixture
async def citizens(registry_url: str, kafka_bootstrap: str) -> Dataset:
    return await register_dataset(registry_url, kafka_bootstrap, "citizens", CITIZEN)


def csv_text(people: dict[str, str]) -> str:
    rows = [
        f"{id_},{name},{'' if int(id_) % 2 else 'đã chuyển đi'}" for id_, name in people.items()
    ]
    return "\r\n".join(["id,name,note", *rows]) + "\r\n"


def drop_files(directory: Path) -> None:
    """A ministry's drop directory: two legacy systems, one writing UTF-8, one cp1258."""
    directory.mkdir()
    (directory / "utf8-ho-khau.csv").write_bytes(b"\xef\xbb\xbf" + csv_text(UTF8_PEOPLE).encode())
    lines = [json.dumps({"id": i, "name": n, "note": None}) for i, n in JSONL_PEOPLE.items()]
    lines.insert(1, json.dumps(["8", "not an object"]))
    (directory / "utf8-dan-cu.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    (directory / "utf8-hong.xml").write_text("<rows>\n<r><id>1</r>\n</rows>\n", "utf-8")
    (directory / "cp1258-xa-phuong.csv").write_bytes(cp1258(csv_text(CP1258_PEOPLE)))
    xml = "".join(
        f"<citizen><id>{i}</id><name>{n}</name><note/></citizen>" for i, n in XML_PEOPLE.items()
    )
    xml = f'<?xml version="1.0" encoding="windows-1258"?>\n<export>{xml}</export>\n'
    (directory / "cp1258-can-bo.xml").write_bytes(cp1258(xml))


def file_config(dataset: Dataset, directory: Path, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "file-source",
        "dataset": dataset.ref,
        "errors.tolerance": "all",
        "directory": str(directory),
        "key_column": "id",
        "batch_size": 2,
        "min_age_seconds": 0,
        "poll_interval_seconds": 0.2,
        **extra,
    }


async def wait_for_files(directory: Path, expected: dict[str, list[str]]) -> None:
    def now() -> dict[str, list[str]]:
        return {sub: sorted(p.name for p in (directory / sub).iterdir()) for sub in expected}

    async with asyncio.timeout(30):
        while True:
            if now() == expected:
                return
            await asyncio.sleep(0.1)


async def test_dropped_files_arrive_bad_ones_are_set_aside_and_a_restart_resends_nothing(
    connect: Connect, citizens: Dataset, kafka_bootstrap: str, tmp_path: Path
) -> None:
    directory = tmp_path / "drop"
    drop_files(directory)
    processed = sorted(
        ["utf8-ho-khau.csv", "utf8-dan-cu.jsonl", "cp1258-xa-phuong.csv", "cp1258-can-bo.xml"]
    )
    utf8, legacy = f"files-utf8-{citizens.agency}", f"files-cp1258-{citizens.agency}"
    configs = {
        utf8: file_config(citizens, directory, pattern="utf8-*"),
        legacy: file_config(
            citizens, directory, pattern="cp1258-*", encoding="cp1258", record_tag="citizen"
        ),
    }
    async with connect.serve() as http:
        for name, config in configs.items():
            response = await http.post("/connectors", json={"name": name, "config": config})
            assert response.status_code == 201, response.text
        good = await read_topic(kafka_bootstrap, citizens.topic, len(ALL))
        dead = await read_topic(kafka_bootstrap, f"ndxp.dlq.{utf8}", 1)
        failed = ["utf8-hong.xml", "utf8-hong.xml.reason.txt"]
        await wait_for_files(directory, {"processed": processed, "failed": failed})
        for name in configs:
            assert (await http.get(f"/connectors/{name}/status")).json()["connector"][
                "state"
            ] == "RUNNING"

    contract = compile_contract(citizens.schema_id, CITIZEN)
    values = [decode(r.value, contract) for r in good]
    assert len(values) == len(ALL)
    assert {v["id"]: v["name"] for v in values} == ALL  # NFC, as the UTF-8 text
    assert [r.key.decode() for r in good] == [v["id"] for v in values]
    notes = {v["id"]: v["note"] for v in values}
    moved = {i for i in UTF8_PEOPLE | CP1258_PEOPLE if int(i) % 2 == 0}  # the CSVs' notes
    assert notes == {i: "đã chuyển đi" if i in moved else None for i in ALL}
    assert len({decode_headers(r.headers)[EVENT_ID] for r in good}) == len(ALL)

    [bad] = dead
    headers = decode_headers(bad.headers)
    assert "not an object" in headers["ndxp-error"]
    assert json.loads(headers["ndxp-source-position"])["file"] == "utf8-dan-cu.jsonl"
    assert json.loads(headers["ndxp-source-position"])["row"] == 2
    assert headers["ndxp-connector"] == utf8
    reason = (directory / "failed" / "utf8-hong.xml.reason.txt").read_text("utf-8")
    assert "not well-formed XML (line 2)" in reason

    # A new worker on the same topics resends nothing; a file dropped now arrives.
    async with connect.serve() as http:
        for name in configs:
            await wait_for_state(http, name, "RUNNING")
        (directory / "utf8-moi.csv").write_text("id,name,note\n11,Lý Thường Kiệt,\n", "utf-8")
        again = await read_topic(kafka_bootstrap, citizens.topic, len(ALL) + 1, settle=1.0)
        await wait_for_files(directory, {"processed": sorted([*processed, "utf8-moi.csv"])})
    assert len(again) == len(ALL) + 1
    assert decode(again[-1].value, contract) == {"id": "11", "name": "Lý Thường Kiệt", "note": None}
