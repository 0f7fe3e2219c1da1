"""A publish request's body: its media type, reading it within limits, splitting it into records.

Three forms are accepted (``Content-Type``):

- ``application/json``: a JSON array of elements;
- ``application/x-ndjson``: one element per line (blank lines are skipped);
- ``application/vnd.ndxp.avro``: records already encoded in Confluent's wire format, each
  preceded by its length as 4 bytes big-endian. With the parameter ``keyed=true``, each record
  is preceded by its key, framed the same way (length ``0xFFFFFFFF``: no key). Key bytes are
  written as they are.

An element of a JSON body is a record's value, or an *envelope*: an object that has a ``value``
member and no members besides ``key``, ``value`` and ``event_id``. A record whose own fields look
like that (a field ``value``, and at most ``key`` and ``event_id`` besides) must be sent in an
envelope, ``{"value": {...}}``, to be read as a value. In an envelope:

- ``key``: the Kafka key. A string is written as its UTF-8 bytes; ``null`` (or no ``key``) means
  no key; any other JSON value as its canonical JSON text (keys sorted, no whitespace, UTF-8), so
  ``123`` and ``"123"`` are the same key: at most 128 levels deep, its integers signed 64-bit
  ones. Records with one key go to one partition, in order.
- ``event_id``: the event's id (header ``ndxp-event-id``), 1 to 128 visible ASCII characters;
  by default the gateway makes one.

Limits: the body's bytes (checked against ``Content-Length`` first, then while reading, which stops
at the limit) and its records; either gives 413. A JSON body nests at most 1,024 levels (400
beyond); a record's value is held to its contract, which is itself at most ``NDXP_MAX_JSON_DEPTH``
levels deep.
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from services.core import bounded_json
from services.core.avro.nodes import FieldError
from services.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
AVRO: Final = "application/vnd.ndxp.avro"
ENVELOPE_KEYS: Final = frozenset({"key", "value", "event_id"})
NO_KEY: Final = 0xFFFFFFFF
FRAME: Final = 4
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")


class Format(enum.Enum):
    JSON = "json"
    NDJSON = "ndjson"
    AVRO = "avro"
    AVRO_KEYED = "avro-keyed"

    @property
    def is_avro(self) -> bool:
        return self in (Format.AVRO, Format.AVRO_KEYED)


class InvalidBody(BadRequest):
    code = "invalid_body"
    title = "Invalid body"


class BodyTooLarge(PayloadTooLarge):
    code = "body_too_large"


class TooManyRecords(PayloadTooLarge):
    code = "too_many_records"


def body_format(content_type: str | None) -> Format:
    """The body's form from its ``Content-Type``; 415 for any other."""
    media, _, rest = (content_type or "").partition(";")
    media = media.strip().lower()
    params = {}
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            params[name.strip().lower()] = value.strip().strip('"').lower()
    if media in (JSON, NDJSON) and params.get("charset", "utf-8") != "utf-8":
        raise UnsupportedMediaType(f"charset {params['charset']!r}: JSON bodies are UTF-8")
    if media == JSON:
        return Format.JSON
    if media == NDJSON:
        return Format.NDJSON
    if media == AVRO:
        keyed = params.get("keyed", "false")
        if keyed not in ("true", "false"):
            raise UnsupportedMediaType(f"{AVRO}: keyed must be true or false, not {keyed!r}")
        return Format.AVRO_KEYED if keyed == "true" else Format.AVRO
    raise UnsupportedMediaType(
        f"Content-Type {content_type or '(none)'!r}: send {JSON}, {NDJSON} or {AVRO}"
    )


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed ``limit`` bytes."""
    if content_length is not None and content_length.strip().isdigit():
        declared = int(content_length)
        if declared > limit:
            raise BodyTooLarge(f"the body has {declared} bytes; the limit is {limit}")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body has more than {limit} bytes, the limit")
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class Elements:
    """A JSON body's records: values, and keys and event ids where envelopes gave them."""

    values: list[Any]
    keys: list[bytes | None] | None  # None: no record has a key
    event_ids: list[str | None] | None  # None: the gateway names every event
    envelopes: frozenset[int]  # indexes of the elements that were envelopes
    errors: dict[int, list[FieldError]]  # envelope members that are wrong, by index


def parse_json(body: bytes, fmt: Format, max_records: int) -> Elements:
    """Split a JSON or NDJSON body into records; 400 if it is not one, 413 beyond the limit."""
    items = _ndjson(body, max_records) if fmt is Format.NDJSON else _json_array(body)
    if len(items) > max_records:
        raise TooManyRecords(f"the body has {len(items)} records; the limit is {max_records}")
    if not items:
        raise InvalidBody("the body has no records")
    return split_envelopes(items)


def _json_array(body: bytes) -> list[Any]:
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"the body is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise InvalidBody(f"the body must be a JSON array of records, not {_kind(items)}")
    return items


def _ndjson(body: bytes, max_records: int) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        if len(items) == max_records:
            raise TooManyRecords(f"the body has more than {max_records} records, the limit")
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InvalidBody(f"line {number} is not JSON: {exc}") from None
    return items


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}
    return kinds.get(type(value), "a scalar")


def split_envelopes(items: list[Any]) -> Elements:
    """Values, keys and event ids of the elements (see the module docstring)."""
    values: list[Any] = items
    keys: list[bytes | None] | None = None
    event_ids: list[str | None] | None = None
    envelopes: list[int] = []
    errors: dict[int, list[FieldError]] = {}
    for index, item in enumerate(items):
        if type(item) is not dict or "value" not in item or not item.keys() <= ENVELOPE_KEYS:
            continue
        if not envelopes:  # the first envelope: from here on the lists differ from ``items``
            values = list(items)
        envelopes.append(index)
        values[index] = item["value"]
        key = item.get("key")
        if key is not None and type(key) is not str:
            try:
                bounded_json.check(key, what="the key")
            except bounded_json.InvalidJson as exc:
                errors[index] = [FieldError("/key", exc.message)]
                key = None
        if key is not None:
            if keys is None:
                keys = [None] * len(items)
            keys[index] = key.encode() if type(key) is str else canonical_json(key)
        if "event_id" in item:
            event_id = item["event_id"]
            if type(event_id) is str and _EVENT_ID.fullmatch(event_id):
                if event_ids is None:
                    event_ids = [None] * len(items)
                event_ids[index] = event_id
            else:
                reason = "must be 1 to 128 visible ASCII characters"
                errors.setdefault(index, []).append(FieldError("/event_id", reason))
    return Elements(values, keys, event_ids, frozenset(envelopes), errors)


def canonical_json(value: Any) -> bytes:
    """JSON text with sorted keys and no whitespace: one spelling per value."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Frames:
    """A raw Avro body's records: wire-format payloads, and their keys when ``keyed``."""

    payloads: list[bytes]
    keys: list[bytes | None] | None


def parse_avro(body: bytes, fmt: Format, max_records: int) -> Frames:
    """Split a raw Avro body into its length-prefixed frames; 400 if one is cut short."""
    keyed = fmt is Format.AVRO_KEYED
    payloads: list[bytes] = []
    keys: list[bytes | None] = []
    view, position, end = memoryview(body), 0, len(body)
    while position < end:
        if len(payloads) == max_records:
            raise TooManyRecords(f"the body has more than {max_records} records, the limit")
        if keyed:
            key, position = _frame(view, position, len(payloads), "key", nullable=True)
            keys.append(key)
        payload, position = _frame(view, position, len(payloads), "record", nullable=False)
        payloads.append(payload)  # type: ignore[arg-type]  # a record frame is never null
    if not payloads:
        raise InvalidBody("the body has no records")
    return Frames(payloads, keys if keyed and any(k is not None for k in keys) else None)


def _frame(
    view: memoryview, position: int, index: int, what: str, *, nullable: bool
) -> tuple[bytes | None, int]:
    if position + FRAME > len(view):
        raise InvalidBody(f"record {index}: the body ends inside the length of its {what}")
    size = int.from_bytes(view[position : position + FRAME], "big")
    position += FRAME
    if size == NO_KEY and nullable:
        return None, position
    if position + size > len(view):
        raise InvalidBody(f"record {index}: the body ends inside its {what} ({size} bytes)")
    return bytes(view[position : position + size]), position + size
