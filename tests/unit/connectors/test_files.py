"""file-source without Kafka: files in a temp directory, ``poll`` called as the worker calls it."""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.connectors.plugin import Offset, SourceRecord
from services.connectors.plugins.files import FileSource, FileSourceConfig
from tests.fixtures.encodings import cp1258

NAMES = ["Nguyễn Thị Hồng Nhung", "Đặng Văn Lâm", "Trần Quốc Việt", "Phạm Ngọc Ánh"]


def people_csv(names: list[str] = NAMES) -> str:
    lines = ["id,name,note"] + [
        f'{i},{name},"ghi chú, {i}"' if i % 2 else f"{i},{name}," for i, name in enumerate(names, 1)
    ]
    return "\r\n".join(lines) + "\r\n"


def source(directory: Path, **config: Any) -> FileSource:
    settings = FileSourceConfig.model_validate(
        {"directory": str(directory), "min_age_seconds": 0, **config}
    )
    return FileSource("files-test", settings)


async def drain(plugin: FileSource, offset: Offset | None = None) -> tuple[list[SourceRecord], Any]:
    """Poll as the worker does (the offset of each batch committed before the next poll) until
    the directory has nothing more; every record and the last offset."""
    await plugin.start()
    records: list[SourceRecord] = []
    for _ in range(1000):
        batch = await plugin.poll(offset)
        records.extend(batch.records)
        offset = batch.offset
        if not batch.more:
            return records, offset
    raise AssertionError("the source never ran dry")


def values(records: list[SourceRecord]) -> list[Any]:
    return [r.value for r in records]


def listing(directory: Path) -> dict[str, list[str]]:
    """The files left in the directory, in processed/ and in failed/."""
    left = sorted(p.name for p in directory.iterdir() if p.is_file())
    return {
        "": left,
        "processed": sorted(p.name for p in (directory / "processed").iterdir()),
        "failed": sorted(p.name for p in (directory / "failed").iterdir()),
    }


def expected_people(names: list[str] = NAMES) -> list[dict[str, Any]]:
    return [
        {"id": str(i), "name": name, "note": f"ghi chú, {i}" if i % 2 else None}
        for i, name in enumerate(names, 1)
    ]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf-8", "utf-8-bom"])
async def test_csv_rows_become_records_and_the_file_is_processed(
    tmp_path: Path, bom: bytes
) -> None:
    content = bom + people_csv().encode()
    (tmp_path / "people.csv").write_bytes(content)
    records, offset = await drain(source(tmp_path))
    assert values(records) == expected_people()  # "id", not "\ufeffid"
    digest = hashlib.sha256(content).hexdigest()
    assert [r.position for r in records] == [
        {"file": "people.csv", "sha256": digest[:16], "row": row} for row in (1, 2, 3, 4)
    ]
    assert all(r.error is None and r.key is None for r in records)
    assert listing(tmp_path) == {"": [], "processed": ["people.csv"], "failed": []}
    assert offset == {"file": "people.csv", "sha256": digest, "row": 4, "rows": 4}


async def test_cp1258_is_decoded_and_normalized_to_the_utf8_text(tmp_path: Path) -> None:
    data = cp1258(people_csv())
    # the legacy bytes carry combining tone marks: without normalization the text differs
    assert data.decode("cp1258") != people_csv()
    for sub in ("raw", "nfc"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "people.csv").write_bytes(data)
    raw, _ = await drain(source(tmp_path / "raw", encoding="cp1258", normalize=None))
    nfc, _ = await drain(source(tmp_path / "nfc", encoding="cp1258"))
    assert [v["name"] for v in values(raw)] != NAMES
    assert [unicodedata.normalize("NFC", v["name"]) for v in values(raw)] == NAMES
    assert values(nfc) == expected_people()


async def test_jsonl_lines_that_are_not_objects_are_bad_rows_of_a_processed_file(
    tmp_path: Path,
) -> None:
    lines = [
        json.dumps({"id": 1, "name": NAMES[0], "tags": ["a"]}, ensure_ascii=False),
        "",
        json.dumps([1, 2]),
        "{not json",
        json.dumps({"id": 2, "name": unicodedata.normalize("NFD", NAMES[1])}),
    ]
    (tmp_path / "people.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    records, _ = await drain(source(tmp_path))
    assert values(records) == [
        {"id": 1, "name": NAMES[0], "tags": ["a"]},
        {"source": "[1, 2]"},  # what the DLQ shows
        {"source": "{not json"},
        {"id": 2, "name": NAMES[1]},
    ]
    assert [r.position["row"] for r in records] == [1, 2, 3, 4]
    assert "line 3 is a JSON list, not an object" in str(records[1].error)
    assert "line 4 is not JSON" in str(records[2].error)
    assert listing(tmp_path)["processed"] == ["people.jsonl"]


async def test_xml_record_elements_become_records(tmp_path: Path) -> None:
    xml = f"""<?xml version="1.0" encoding="windows-1258"?>
<export xmlns="urn:bo-noi-vu">
  <!-- made by the ministry's system -->
  <header><date>2024-01-01</date></header>
  <person><id>1</id><name>{NAMES[0]}</name><note/></person>
  <person><id>2</id><name>{NAMES[1]}</name><note>a &amp; b</note></person>
</export>
"""
    (tmp_path / "people.xml").write_bytes(cp1258(xml))
    records, _ = await drain(source(tmp_path, encoding="cp1258", record_tag="person"))
    assert values(records) == [
        {"id": "1", "name": NAMES[0], "note": None},
        {"id": "2", "name": NAMES[1], "note": "a & b"},
    ]
    assert listing(tmp_path)["processed"] == ["people.xml"]


async def test_xml_records_are_the_roots_children_by_default(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("<rows><r><x>1</x></r><r><x>2</x><x>3</x></r></rows>")
    records, _ = await drain(source(tmp_path))
    assert values(records) == [{"x": "1"}, {"source": "<r><x>2</x><x>3</x></r>"}]
    assert "<x> appears twice" in str(records[1].error)


async def test_xml_external_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("MẬT KHẨU BÍ MẬT")
    xml = f"""<?xml version="1.0"?>
<!DOCTYPE rows [
  <!ENTITY xxe SYSTEM "file://{secret}">
  <!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<rows><r><name>&xxe;</name></r><r><name>&lol2;</name></r><r><name>ok</name></r></rows>
"""
    (tmp_path / "evil.xml").write_text(xml)
    records, _ = await drain(source(tmp_path, pattern="*.xml"))
    assert "BÍ MẬT" not in repr(records)
    assert "lollol" not in repr(records)
    assert [r.error is None for r in records] == [False, False, True]
    assert values(records)[2] == {"name": "ok"}
    assert "uses the entity &xxe;, which is not expanded" in str(records[0].error)


@pytest.mark.parametrize(
    ("name", "content", "config", "reason"),
    [
        (
            "bad.csv",
            "id,name\n1,Lâm\n".encode("cp1258"),
            {},
            "bad.csv is not utf-8: byte(s) e2 at byte position 11 (line 2)",
        ),
        ("bad.csv", b"", {}, "bad.csv has no header row"),
        ("bad.csv", b'id,name\n1,"Lam\n2,x\n', {}, "bad.csv is not valid CSV at line 3"),
        ("bad.csv", b'id,name\n1,"L"am\n', {}, "bad.csv is not valid CSV at line 2"),
        ("bad.csv", b"id,id\n1,2\n", {}, "the header names a column twice"),
        (
            "bad.xml",
            b"<rows>\n<r><x>1</x></r>\n<r><x>2</y></r>\n</rows>",
            {},
            "bad.xml is not well-formed XML (line 3): Opening and ending tag mismatch",
        ),
        ("bad.csv", b"id\n" + b"1\n" * 100, {"max_file_bytes": 100}, "203 bytes, more than"),
        ("bad.txt", b"id\n1\n", {}, "cannot tell the format of bad.txt from its extension"),
    ],
    ids=["encoding", "empty", "unclosed-quote", "stray-quote", "dup-header", "xml", "big", "ext"],
)
async def test_an_unreadable_file_goes_to_failed_with_its_reason_and_sends_nothing(
    tmp_path: Path, name: str, content: bytes, config: dict[str, Any], reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.csv").write_text(people_csv(NAMES[:1]))
    os.utime(tmp_path / name, (1, 1))  # the bad one first
    records, _ = await drain(source(tmp_path, **config))
    assert values(records) == expected_people(NAMES[:1])
    assert listing(tmp_path) == {
        "": [],
        "processed": ["good.csv"],
        "failed": [name, f"{name}.reason.txt"],
    }
    assert reason in (tmp_path / "failed" / f"{name}.reason.txt").read_text("utf-8")
    assert (tmp_path / "failed" / name).read_bytes() == content


async def test_bad_csv_rows_and_mapping(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("ma_so;ho_ten;x\n1;Lâm;y\n2;Nhung\n;Việt;z\n", "utf-8")
    plugin = source(
        tmp_path, delimiter=";", mapping={"ma_so": "id", "ho_ten": "name"}, key_column="ma_so"
    )
    records, _ = await drain(plugin)
    assert values(records) == [
        {"id": "1", "name": "Lâm"},
        {"source": "2;Nhung"},
        {"id": None, "name": "Việt"},
    ]
    assert [r.key for r in records] == ["1", None, None]
    assert "line 3 has 2 fields, the header 3" in str(records[1].error)

    (tmp_path / "q.csv").write_text("ma_so,ten\n1,Lâm\n", "utf-8")
    records, _ = await drain(source(tmp_path, mapping={"ma_so": "id", "ho_ten": "name"}))
    assert records[0].error == "the row has no column(s) ['ho_ten']"
    assert records[0].value == {"ma_so": "1", "ten": "Lâm"}  # the row as read, for the DLQ
    assert listing(tmp_path)["processed"] == ["p.csv", "q.csv"]


async def test_batches_resume_mid_file_after_a_crash_and_a_done_file_is_only_moved(
    tmp_path: Path,
) -> None:
    names = [f"Người {i}" for i in range(1, 6)]
    (tmp_path / "p.csv").write_text(people_csv(names), "utf-8")
    first = source(tmp_path, batch_size=2)
    await first.start()
    batch = await first.poll(None)
    assert [r.position["row"] for r in batch.records] == [1, 2]
    assert batch.more
    committed = batch.offset
    await first.poll(committed)  # rows 3-4 polled, but the worker died before committing them

    # a new worker resumes from the committed offset: rows 3 to 5, no repeats
    records, offset = await drain(source(tmp_path, batch_size=2), committed)
    assert [r.position["row"] for r in records] == [3, 4, 5]
    assert values(records) == expected_people(names)[2:]
    assert offset == {"file": "p.csv", "sha256": batch.offset["sha256"], "row": 5, "rows": 5}

    # the last offset committed, then a crash before the move: the next poll only moves the file
    (tmp_path / "processed" / "p.csv").rename(tmp_path / "p.csv")
    records, _ = await drain(source(tmp_path, batch_size=2), offset)
    assert records == []
    assert listing(tmp_path)["processed"] == ["p.csv"]


async def test_a_new_file_under_an_old_name_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text(people_csv(NAMES[:2]), "utf-8")
    first, offset = await drain(source(tmp_path))
    (tmp_path / "p.csv").write_text(people_csv(NAMES[2:]), "utf-8")
    second, _ = await drain(source(tmp_path), offset)
    assert values(second) == [
        {"id": "1", "name": NAMES[2], "note": "ghi chú, 1"},
        {"id": "2", "name": NAMES[3], "note": None},
    ]
    assert first[0].position["sha256"] != second[0].position["sha256"]
    processed = listing(tmp_path)["processed"]
    assert processed == sorted(["p.csv", f"p-{second[0].position['sha256']}.csv"])


async def test_files_are_taken_oldest_first_then_by_name_and_young_ones_wait(
    tmp_path: Path,
) -> None:
    for name, mtime in [("c.csv", 100), ("b.csv", 200), ("a.csv", 200), (".tmp.csv", 1)]:
        (tmp_path / name).write_text(f"f\n{name}\n")
        os.utime(tmp_path / name, (mtime, mtime))
    (tmp_path / "new.csv").write_text("f\nnew.csv\n")
    (tmp_path / "other.jsonl").write_text('{"f": "other"}\n')
    os.utime(tmp_path / "other.jsonl", (1, 1))
    records, _ = await drain(source(tmp_path, pattern="*.csv", min_age_seconds=3600))
    assert [v["f"] for v in values(records)] == ["c.csv", "a.csv", "b.csv"]
    assert listing(tmp_path)[""] == [".tmp.csv", "new.csv", "other.jsonl"]


def test_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="unknown encoding"):
        FileSourceConfig.model_validate({"directory": "/x", "encoding": "cp9999"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        FileSourceConfig.model_validate({"directory": "/x", "encodng": "utf-8"})
    with pytest.raises(ValidationError, match="no path separators"):
        FileSourceConfig.model_validate({"directory": "/x", "pattern": "../*"})
    schema = FileSourceConfig.model_json_schema()
    assert all("description" in field for field in schema["properties"].values())


async def test_a_missing_directory_fails_the_start(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await source(tmp_path / "nope").start()


async def test_a_file_without_rows_is_processed_without_records(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "header-only.csv").write_bytes(b"\xef\xbb\xbfid,name\r\n")
    records, offset = await drain(source(tmp_path))
    assert records == []
    assert offset is None
    assert listing(tmp_path)["processed"] == ["empty.jsonl", "header-only.csv"]
