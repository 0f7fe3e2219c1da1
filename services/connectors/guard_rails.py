"""What an admin's connector may not reach, whatever its config says: checked when it is created,
replaced or validated (400 ``invalid_connector_config``), before anything is written.

- ``file-source`` reads (and moves) files only under the operator's base directories
  (``NDXP_CONNECT_FILE_BASE_DIRS``; default ``<data dir>/drops``), judged after symlinks and ``..``
  are resolved, so a path cannot climb out of them.
- ``sql-source`` and ``sql-sink`` never open the control-plane database (the hub's agencies,
  clients, keys and audit index): not the same SQLite file, however its path is written, nor the
  same PostgreSQL database on the same host and port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.connectors.secrets import resolve
from services.core.config import normalize_database_url

FILE_PLUGINS: Final = frozenset({"file-source"})
SQL_PLUGINS: Final = frozenset({"sql-source", "sql-sink"})
_POSTGRES_PORT: Final = 5432


@dataclass(frozen=True)
class GuardRails:
    """The base directories of file connectors and the control plane's database URL."""

    file_base_dirs: Sequence[Path]
    control_plane_url: str

    def errors(self, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every rail ``raw`` crosses, as config errors (``{"name", "message"}``)."""
        plugin = raw.get("connector.class")
        try:
            if plugin in FILE_PLUGINS and isinstance(raw.get("directory"), str):
                return self._directory(str(resolve(raw["directory"])))
            if plugin in SQL_PLUGINS and isinstance(raw.get("url"), str):
                return self._database(str(resolve(raw["url"])))
        except ValueError:  # an unset ${env:NAME}: the config check reports it
            return []
        return []

    def _directory(self, directory: str) -> list[dict[str, Any]]:
        found = Path(directory).expanduser().resolve()
        bases = [Path(base).expanduser().resolve() for base in self.file_base_dirs]
        if any(found == base or found.is_relative_to(base) for base in bases):
            return []
        allowed = ", ".join(str(base) for base in bases) or "none"
        return [
            {
                "name": "directory",
                "message": f"{found} is outside the directories file connectors may read "
                f"(NDXP_CONNECT_FILE_BASE_DIRS: {allowed})",
            }
        ]

    def _database(self, url: str) -> list[dict[str, Any]]:
        if same_database(url, self.control_plane_url):
            return [
                {
                    "name": "url",
                    "message": "is the hub's own control-plane database: connectors may not "
                    "read or write it",
                }
            ]
        return []


def same_database(url: str, other: str) -> bool:
    """Whether SQLAlchemy URLs ``url`` and ``other`` open the same database: the same SQLite file
    (paths resolved), or the same PostgreSQL host, port and database name."""
    try:
        first, second = (make_url(normalize_database_url(each)) for each in (url, other))
    except ArgumentError:
        return False
    if first.get_backend_name() != second.get_backend_name():
        return False
    if first.get_backend_name() == "sqlite":
        paths = [each.database or "" for each in (first, second)]
        if not all(paths) or ":memory:" in paths:
            return False
        return Path(paths[0]).expanduser().resolve() == Path(paths[1]).expanduser().resolve()
    return _place(first.host, first.port, first.database) == _place(
        second.host, second.port, second.database
    )


def _place(host: str | None, port: int | None, database: str | None) -> tuple[str, int, str]:
    local = {"", "localhost", "127.0.0.1", "::1"}
    name = (host or "").lower().rstrip(".")
    return ("localhost" if name in local else name, port or _POSTGRES_PORT, database or "")
