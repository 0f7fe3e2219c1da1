"""``file-source``: CSV, JSON-lines or XML files dropped in a directory, as records of a contract.

Legacy systems of the ministries export by writing files to a shared directory. The connector
takes the files matching ``pattern`` oldest first (mtime, then name), skipping hidden files and
files younger than ``min_age_seconds`` (still being written), and gives their rows in batches:

- CSV: a header row names the columns, the values are strings (``null_values`` → None);
- JSON lines: one object per line, values as JSON has them;
- XML: each ``record_tag`` element (by default: each child of the root) is a record, the text of
  its child elements (by local name) its fields, an empty element None. lxml parses it with
  entities left unexpanded and no network or DTD loading, so a file cannot read other files or
  URLs (XXE); a field that uses an entity is a bad row.

Every file is decoded with ``encoding`` (for XML too: its prolog's encoding is not used), a UTF-8
BOM dropped, and the names and values read normalized (NFC by default): cp1258, the Windows
Vietnamese code page, decodes many letters as a base letter and a combining tone mark, which
consumers comparing with precomposed UTF-8 text would not match. The parsers are in
:mod:`.file_formats`.

A file is read and parsed whole before anything of it is sent: the files these systems export are
small (``max_file_bytes`` caps them), and a file that cannot be read at all (bytes not in the
encoding, a CSV without a header, XML not well-formed, too big) must send nothing. It goes to
``failed/`` with ``<name>.reason.txt`` saying why. A row that cannot be mapped (a missing mapped
column, a line that is not a JSON object) is a record with ``error`` set, which the worker
dead-letters, and for a row that could not be parsed the value ``{"source": <the row's text>}``,
so the DLQ shows what the file held; its file still counts as processed. The worker converts the
strings to the contract's types (``date_format``, ``timestamp_format``, ``timezone``:
:mod:`services.connectors.text_values`); a value that cannot be converted sends its row to the DLQ.

The offset names the file (name and the sha256 of its content, so a new file dropped under an old
name is read again) and the row reached, so a crash resumes mid-file; a record's position is
``{"file", "sha256" (short), "row"}`` (rows count from 1), which makes event ids deterministic.
The worker polls again only after committing a batch's offset, so a poll whose offset says a file
is complete moves it to ``processed/``: a crash between the commit and the move moves it on the
next poll, without sending it twice. The same file (same name and content) dropped again right
after would be taken for the one just sent; its records would have the same event ids anyway.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import logging
import stat
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import Field, field_validator

from services.connectors.plugin import Batch, Offset, SourceConnector, SourceRecord
from services.connectors.plugins.file_formats import Format, Normalization, Row, Unreadable, parse
from services.connectors.text_values import TextValues

log = logging.getLogger(__name__)

PROCESSED, FAILED = "processed", "failed"
SHORT_DIGEST = 16  # hex digits of the sha256 in record positions: names a file's content


class FileSourceConfig(TextValues):
    directory: Path = Field(
        description="Directory the files are dropped in; processed/ and failed/ are made in it."
    )
    pattern: str = Field(
        default="*", description="Glob of the file names to take (hidden files never are)."
    )
    format: Format | None = Field(
        default=None,
        description="csv, jsonl or xml; default: from the extension (.csv, .jsonl/.ndjson, .xml).",
    )
    encoding: str = Field(
        default="utf-8",
        description="Python codec of the files, e.g. cp1258; a UTF-8 BOM is dropped.",
    )
    normalize: Normalization | None = Field(
        default="NFC", description="Unicode normalization of the decoded text (null: none)."
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")
    quotechar: str = Field(default='"', min_length=1, max_length=1, description="CSV quote.")
    null_values: tuple[str, ...] = Field(default=("",), description="CSV values read as null.")
    record_tag: str | None = Field(
        default=None, description="XML: tag of the record elements; default: the root's children."
    )
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Column → field; when given only these are sent."
    )
    key_column: str | None = Field(default=None, description="Column whose value keys records.")
    batch_size: int = Field(default=1000, ge=1, le=100_000, description="Rows per batch.")
    poll_interval_seconds: float = Field(
        default=1.0, gt=0, description="Seconds between looks at an idle directory."
    )
    min_age_seconds: float = Field(
        default=1.0, ge=0, description="A file modified more recently is still being written."
    )
    max_file_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="Bigger files go to failed/ unread."
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("pattern")
    @classmethod
    def _name_only(cls, value: str) -> str:
        if "/" in value or "\\" in value:
            raise ValueError("pattern matches file names in the directory: no path separators")
        return value


@dataclass(frozen=True)
class ParsedFile:
    name: str
    sha256: str
    rows: list[Row]

    @property
    def short(self) -> str:
        return self.sha256[:SHORT_DIGEST]


class FileSource(SourceConnector):
    Config = FileSourceConfig
    config: FileSourceConfig
    _cached: tuple[tuple[str, int, int, int], ParsedFile] | None = None

    @property
    def directory(self) -> Path:
        return self.config.directory

    async def start(self) -> None:
        await asyncio.to_thread(self._make_dirs)

    def _make_dirs(self) -> None:
        # a mistyped directory must fail the connector, not be created empty and watched forever
        if not self.directory.is_dir():
            raise FileNotFoundError(f"{self.directory} is not a directory")
        for sub in (PROCESSED, FAILED):
            (self.directory / sub).mkdir(exist_ok=True)

    async def poll(self, offset: Offset | None) -> Batch:
        if offset is not None and _complete(offset):
            await asyncio.to_thread(self._move_if_same, offset["file"], offset.get("sha256"))
            found = await asyncio.to_thread(self._next_file, None)
        else:
            found = await asyncio.to_thread(self._next_file, offset)
        if found is None:
            return Batch([], offset)
        parsed, start = found
        end = min(start + self.config.batch_size, len(parsed.rows))
        records = [
            self.record(parsed, row, n) for n, row in enumerate(parsed.rows[start:end], start + 1)
        ]
        new = {"file": parsed.name, "sha256": parsed.sha256, "row": end, "rows": len(parsed.rows)}
        return Batch(records, new, more=True)

    def record(self, parsed: ParsedFile, row: Row, n: int) -> SourceRecord:
        position = {"file": parsed.name, "sha256": parsed.short, "row": n}
        if row.error is not None:
            return SourceRecord(position, row.value, None, row.error)
        key = None
        if self.config.key_column is not None:
            if self.config.key_column not in row.value:
                error = f"the row has no key column {self.config.key_column!r}"
                return SourceRecord(position, row.value, None, error)
            raw_key = row.value[self.config.key_column]
            key = None if raw_key is None else str(raw_key)
        mapping = self.config.mapping
        if not mapping:
            return SourceRecord(position, row.value, key)
        missing = [column for column in mapping if column not in row.value]
        if missing:
            error = f"the row has no column(s) {missing}"
            return SourceRecord(position, row.value, key, error)
        return SourceRecord(position, {f: row.value[c] for c, f in mapping.items()}, key)

    # Everything below runs in a thread (asyncio.to_thread): file system calls block.

    def _next_file(self, offset: Offset | None) -> tuple[ParsedFile, int] | None:
        """The file to read from and the row to start at; unreadable and empty files are moved."""
        if offset and "file" in offset:
            path = self.directory / str(offset["file"])
            if path.is_file():
                parsed = self._try_load(path)
                if parsed is not None and parsed.sha256 == offset.get("sha256"):
                    return parsed, int(offset.get("row", 0))
        for path in self._candidates():
            parsed = self._try_load(path)
            if parsed is None:
                continue
            if parsed.rows:
                return parsed, 0
            self._move(path, PROCESSED)  # nothing to send, nothing to commit
        return None

    def _candidates(self) -> list[Path]:
        ripe = time.time() - self.config.min_age_seconds
        found: list[tuple[float, str, Path]] = []
        for path in self.directory.iterdir():
            name = path.name
            if name.startswith(".") or not fnmatchcase(name, self.config.pattern):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # moved away by someone while listing
                continue
            if stat.S_ISREG(info.st_mode) and info.st_mtime <= ripe:
                found.append((info.st_mtime, name, path))
        return [path for _, _, path in sorted(found)]

    def _try_load(self, path: Path) -> ParsedFile | None:
        """The parsed file, or None after moving it to failed/ with the reason."""
        try:
            return self._load(path)
        except FileNotFoundError:  # taken away since the listing: not ours any more
            return None
        except Unreadable as exc:
            reason = str(exc)
            log.warning("file-source %s: %s goes to %s/: %s", self.name, path.name, FAILED, reason)
            target = self._target(path, FAILED)
            target.with_name(f"{target.name}.reason.txt").write_text(reason + "\n", "utf-8")
            path.replace(target)
            return None

    def _load(self, path: Path) -> ParsedFile:
        info = path.stat()
        key = (path.name, info.st_size, info.st_mtime_ns, info.st_ino)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        if info.st_size > self.config.max_file_bytes:
            raise Unreadable(
                f"{path.name} has {info.st_size} bytes, more than max_file_bytes "
                f"({self.config.max_file_bytes})"
            )
        data = path.read_bytes()
        parsed = ParsedFile(
            path.name, hashlib.sha256(data).hexdigest(), parse(path.name, data, self.config)
        )
        self._cached = (key, parsed)
        return parsed

    def _move_if_same(self, name: str, sha256: str | None) -> None:
        path = self.directory / name
        if not path.is_file():
            return  # moved already
        if _digest(path) == sha256:
            self._move(path, PROCESSED)
        # else a new file under the old name: the listing finds it and it is read from its start

    def _move(self, path: Path, sub: str) -> None:
        path.replace(self._target(path, sub))

    def _target(self, path: Path, sub: str) -> Path:
        """``<sub>/<name>``, or ``<sub>/<stem>-<short digest><suffix>`` if a file of the same name
        was moved there before (an identical one is replaced: nothing is lost)."""
        target = self.directory / sub / path.name
        if target.exists():
            short = _digest(path)[:SHORT_DIGEST]
            target = target.with_name(f"{path.stem}-{short}{path.suffix}")
        return target


def _digest(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _complete(offset: Offset) -> bool:
    """The offset says every row of its file was given (and, polled with it, committed)."""
    if "file" not in offset or "rows" not in offset:
        return False
    return int(offset.get("row", 0)) >= int(offset["rows"])
