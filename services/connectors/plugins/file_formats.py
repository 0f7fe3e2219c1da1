"""The file formats ``file-source`` reads: pure functions of a file's bytes and the options that say
how to read them, giving its rows.

- CSV: a header row names the columns, the values are strings (``null_values`` → None); a row with
  more or fewer fields than the header is a bad row, a broken quote makes the file unreadable.
- JSON lines: one object per line, values as JSON has them; a line that is not a JSON object is a
  bad row.
- XML: each ``record_tag`` element (by default: each child of the root) is a record, the text of
  its child elements (by local name) its fields, an empty element None. lxml parses it with
  entities left unexpanded and no network or DTD loading, so a file cannot read other files or
  URLs (XXE); a field that uses an entity is a bad row.

The bytes are decoded with the configured encoding (for XML too: its prolog's encoding is not
used), a UTF-8 BOM dropped, and names and values normalized (NFC by default). A file that cannot
be read at all raises :class:`Unreadable`; a bad row is a :class:`Row` with ``error`` and the row's
text as ``{"source": ...}``, for the DLQ to show.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from lxml import etree  # type: ignore[import-untyped]

Format = Literal["csv", "jsonl", "xml"]
Normalization = Literal["NFC", "NFD", "NFKC", "NFKD"]
EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xml": "xml",
}


class ReadOptions(Protocol):
    """How to read a file: the fields of ``file-source``'s config that the parsers use."""

    @property
    def format(self) -> Format | None: ...
    @property
    def encoding(self) -> str: ...
    @property
    def normalize(self) -> Normalization | None: ...
    @property
    def delimiter(self) -> str: ...
    @property
    def quotechar(self) -> str: ...
    @property
    def null_values(self) -> tuple[str, ...]: ...
    @property
    def record_tag(self) -> str | None: ...


class Unreadable(Exception):
    """The file cannot be read at all; the message says why (it goes to the reason file)."""


@dataclass(frozen=True)
class Row:
    """A row's fields, or why it is bad and ``{"source": <its text>}`` for the DLQ to show."""

    value: dict[str, Any]
    error: str | None = None


def bad_row(error: str, source: str) -> Row:
    return Row({"source": source}, error)


def parse(name: str, data: bytes, config: ReadOptions) -> list[Row]:
    """The rows of the file ``name`` holding ``data``; :class:`Unreadable` if it cannot be read."""
    fmt = config.format or EXTENSIONS.get(Path(name).suffix.lower())
    if fmt is None:
        raise Unreadable(f"cannot tell the format of {name} from its extension: set format")
    text = decode(name, data, config.encoding)
    norm = _normalizer(config.normalize)
    if fmt == "csv":
        return parse_csv(name, text, config, norm)
    if fmt == "jsonl":
        return parse_jsonl(text, norm)
    return parse_xml(name, text, config.record_tag, norm)


def decode(name: str, data: bytes, encoding: str) -> str:
    # the BOM Windows tools write is not part of the first column's name
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.end].hex(" ")
        raise Unreadable(
            f"{name} is not {encoding}: byte(s) {bad} at byte position {exc.start} (line {line}):"
            f" {exc.reason}"
        ) from None


def _normalizer(form: Normalization | None) -> Callable[[str], str]:
    if form is None:
        return lambda text: text
    return lambda text: unicodedata.normalize(form, text)


def parse_csv(name: str, text: str, config: ReadOptions, norm: Callable[[str], str]) -> list[Row]:
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=config.delimiter,
        quotechar=config.quotechar,
        strict=True,  # a broken quote means a corrupt export: fail it rather than guess
    )
    nulls = {norm(value) for value in config.null_values}
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise Unreadable(f"{name} has no header row")
        columns = [norm(column) for column in header]
        if len(set(columns)) != len(columns):
            raise Unreadable(f"{name}: the header names a column twice: {columns}")
        rows: list[Row] = []
        for fields in reader:
            if not fields:
                continue  # a blank line
            if len(fields) != len(columns):
                error = (
                    f"line {reader.line_num} has {len(fields)} fields, the header {len(columns)}"
                )
                rows.append(bad_row(error, _csv_line(fields, config)))
                continue
            values = (norm(value) for value in fields)
            rows.append(
                Row({c: None if v in nulls else v for c, v in zip(columns, values, strict=True)})
            )
    except csv.Error as exc:
        raise Unreadable(f"{name} is not valid CSV at line {reader.line_num}: {exc}") from None
    return rows


def _csv_line(fields: list[str], config: ReadOptions) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=config.delimiter, quotechar=config.quotechar).writerow(fields)
    return out.getvalue().rstrip("\r\n")


def parse_jsonl(text: str, norm: Callable[[str], str]) -> list[Row]:
    rows: list[Row] = []
    # not splitlines(): U+2028 and friends may stand unescaped inside JSON strings
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            error = f"line {number} is not JSON: {exc.msg} (column {exc.colno})"
            rows.append(bad_row(error, line))
            continue
        if not isinstance(value, dict):
            what = type(value).__name__
            rows.append(bad_row(f"line {number} is a JSON {what}, not an object", line))
            continue
        rows.append(Row(_normalized(value, norm)))
    return rows


def _normalized(value: Any, norm: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return norm(value)
    if isinstance(value, dict):
        return {norm(k): _normalized(v, norm) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v, norm) for v in value]
    return value


def _xml_parser() -> Any:
    return etree.XMLParser(
        encoding="utf-8",  # decoded with the connector's encoding and re-encoded: see parse_xml
        resolve_entities=False,  # no XXE, no billion laughs
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(
    name: str, text: str, record_tag: str | None, norm: Callable[[str], str]
) -> list[Row]:
    # lxml refuses str with an encoding declaration: give it UTF-8 bytes and override the prolog
    try:
        root = etree.fromstring(text.encode("utf-8"), _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise Unreadable(f"{name} is not well-formed XML (line {exc.lineno}): {exc.msg}") from None
    if record_tag is None:
        elements: Iterator[Any] = (child for child in root if isinstance(child.tag, str))
    else:
        elements = root.iter(record_tag if record_tag.startswith("{") else f"{{*}}{record_tag}")
    return [_xml_row(element, norm) for element in elements]


def _xml_row(element: Any, norm: Callable[[str], str]) -> Row:
    value: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        field = norm(etree.QName(child).localname)
        if field in value:
            error = f"line {child.sourceline}: element <{field}> appears twice"
            return bad_row(error, _xml_text(element))
        entity = next(child.iter(etree.Entity), None)
        if entity is not None:
            error = (
                f"line {child.sourceline}: <{field}> uses the entity {entity.text}, "
                "which is not expanded"
            )
            return bad_row(error, _xml_text(element))
        text = "".join(child.itertext())
        value[field] = norm(text) if text else None
    return Row(value)


def _xml_text(element: Any) -> str:
    return str(etree.tostring(element, encoding="unicode", with_tail=False))
