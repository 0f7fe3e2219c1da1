"""A publish body's forms, envelopes, keys and framing, without HTTP or Kafka."""

from __future__ import annotations

import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from services.core.errors import PayloadTooLarge, UnsupportedMediaType
from services.core.events.body import (
    BodyTooLarge,
    Format,
    InvalidBody,
    TooManyRecords,
    body_format,
    parse_avro,
    parse_json,
    read_body,
)
from services.core.events.encode import random_uuids


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", Format.JSON),
        ("Application/JSON; charset=UTF-8", Format.JSON),
        ("application/x-ndjson", Format.NDJSON),
        ("application/vnd.ndxp.avro", Format.AVRO),
        ("application/vnd.ndxp.avro; keyed=false", Format.AVRO),
        ('application/vnd.ndxp.avro; keyed="true"', Format.AVRO_KEYED),
    ],
)
def test_media_types(content_type: str, expected: Format) -> None:
    assert body_format(content_type) is expected


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/json; charset=latin-1",
        "application/vnd.ndxp.avro; keyed=1",
    ],
)
def test_other_media_types_are_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        body_format(content_type)


def elements(items: list[Any]) -> Any:
    return parse_json(orjson.dumps(items), Format.JSON, 100)


def test_bare_values_are_passed_through_untouched() -> None:
    items = [{"a": 1}, {"value": 2, "other": 3}, {"key": "k"}]
    parsed = elements(items)
    assert parsed.values == items
    assert parsed.keys is None and parsed.event_ids is None
    assert parsed.envelopes == frozenset()


def test_envelopes_give_keys_and_event_ids() -> None:
    parsed = elements(
        [
            {"value": {"a": 1}},
            {"key": "k", "value": {"a": 2}},
            {"key": 12, "value": {"a": 3}, "event_id": "e-3"},
            {"key": {"z": 1, "a": [1.5, None]}, "value": {"a": 4}},
            {"key": None, "value": {"a": 5}},
            {"a": 6},
        ]
    )
    assert parsed.values == [{"a": i} for i in range(1, 7)]
    assert parsed.keys == [None, b"k", b"12", b'{"a":[1.5,null],"z":1}', None, None]
    assert parsed.event_ids == [None, None, "e-3", None, None, None]
    assert parsed.envelopes == frozenset({0, 1, 2, 3, 4})
    assert parsed.errors == {}


@pytest.mark.parametrize("event_id", ["", "a b", "é", 7, "x" * 129])
def test_a_bad_event_id_is_an_error_of_its_record(event_id: Any) -> None:
    parsed = elements([{"value": {}}, {"value": {}, "event_id": event_id}])
    assert list(parsed.errors) == [1]
    assert parsed.errors[1][0].path == "/event_id"


def test_ndjson_lines_and_limits() -> None:
    body = b'{"a": 1}\n\n  \r\n{"value": {"a": 2}, "key": "k"}\r\n'
    parsed = parse_json(body, Format.NDJSON, 2)
    assert parsed.values == [{"a": 1}, {"a": 2}]
    with pytest.raises(TooManyRecords):
        parse_json(body + b'{"a": 3}', Format.NDJSON, 2)
    with pytest.raises(InvalidBody, match="line 2"):
        parse_json(b'{"a": 1}\n{"a":', Format.NDJSON, 2)


@pytest.mark.parametrize("body", [b"", b"[]", b"{}", b'"x"', b"[1,", b"\n\n"])
def test_json_bodies_that_are_not_batches(body: bytes) -> None:
    with pytest.raises(InvalidBody):
        parse_json(body, Format.NDJSON if body == b"\n\n" else Format.JSON, 10)


def test_json_record_limit() -> None:
    with pytest.raises(TooManyRecords):
        parse_json(orjson.dumps([{}] * 11), Format.JSON, 10)


def frame(part: bytes | None) -> bytes:
    return struct.pack(">I", 0xFFFFFFFF) if part is None else struct.pack(">I", len(part)) + part


def test_avro_frames() -> None:
    one, two = b"\x00\x00\x00\x00\x01ab", b"\x00\x00\x00\x00\x01c"
    parsed = parse_avro(frame(one) + frame(two), Format.AVRO, 10)
    assert parsed.payloads == [one, two] and parsed.keys is None
    keyed = parse_avro(frame(b"k") + frame(one) + frame(None) + frame(two), Format.AVRO_KEYED, 10)
    assert keyed.payloads == [one, two] and keyed.keys == [b"k", None]
    with pytest.raises(InvalidBody, match="record 1"):
        parse_avro(frame(one) + frame(two)[:-1], Format.AVRO, 10)
    with pytest.raises(InvalidBody):
        parse_avro(frame(one) + b"\x00\x00", Format.AVRO, 10)
    with pytest.raises(InvalidBody):
        parse_avro(frame(None), Format.AVRO, 10)  # a record is never null
    with pytest.raises(TooManyRecords):
        parse_avro(frame(one) * 3, Format.AVRO, 2)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_reading_stops_at_the_limit() -> None:
    assert await read_body(chunks(b"ab", b"cd"), None, 4) == b"abcd"
    with pytest.raises(BodyTooLarge):
        await read_body(chunks(b"ab", b"cde"), None, 4)
    with pytest.raises(PayloadTooLarge):
        await read_body(chunks(), "5", 4)  # refused on the declared length, nothing read


def test_random_event_ids_are_version_4_uuids() -> None:
    made = random_uuids(200)
    assert len(set(made)) == 200
    for text in made:
        parsed = uuid.UUID(text.decode())
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text.decode()
