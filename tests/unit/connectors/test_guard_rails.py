"""The guard rails of admin connectors: file connectors under base directories, SQL connectors
never on the control-plane database."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.connectors.guard_rails import GuardRails, same_database


def rails(tmp_path: Path, control: str = "postgresql+asyncpg://ndxp:pw@db:5432/ndxp") -> GuardRails:
    return GuardRails([tmp_path / "drops"], control)


def file_source(directory: Path | str) -> dict[str, str]:
    return {"connector.class": "file-source", "dataset": "moh.x", "directory": str(directory)}


def test_file_connectors_read_only_under_the_base_directories(tmp_path: Path) -> None:
    inside = tmp_path / "drops" / "moh"
    inside.mkdir(parents=True)
    (tmp_path / "secrets").mkdir()
    (inside / "escape").symlink_to(tmp_path / "secrets")
    guard = rails(tmp_path)

    assert guard.errors(file_source(inside)) == []
    assert guard.errors(file_source(tmp_path / "drops")) == []
    assert guard.errors(file_source(inside / "not-yet")) == []
    for outside in (
        tmp_path / "secrets",
        inside / ".." / ".." / "secrets",  # .. climbs out
        inside / "escape",  # a symlink leads out
        tmp_path / "drops-2",  # a sibling sharing the prefix is not inside
        "/etc",
    ):
        errors = guard.errors(file_source(outside))
        assert [e["name"] for e in errors] == ["directory"], outside
        assert "outside the directories file connectors may read" in errors[0]["message"]
        assert str(tmp_path / "drops") in errors[0]["message"]


def test_a_reference_is_judged_by_what_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROP_DIR", "/etc")
    assert rails(tmp_path).errors(file_source("${env:DROP_DIR}"))[0]["name"] == "directory"
    monkeypatch.delenv("DROP_DIR")
    assert rails(tmp_path).errors(file_source("${env:DROP_DIR}")) == []  # the config check's


@pytest.mark.parametrize(
    ("url", "same"),
    [
        ("postgresql://etl:other@db/ndxp", True),
        ("postgresql://db:5432/ndxp", True),
        ("postgresql+psycopg://x@DB./ndxp", True),
        ("postgresql://db:5433/ndxp", False),
        ("postgresql://db/hr", False),
        ("postgresql://other-db/ndxp", False),
        ("sqlite:///ndxp.db", False),
    ],
)
def test_postgres_is_the_same_database_by_host_port_and_name(url: str, same: bool) -> None:
    assert same_database(url, "postgresql+asyncpg://ndxp:pw@db:5432/ndxp") is same


def test_sqlite_is_the_same_database_by_its_resolved_file(tmp_path: Path) -> None:
    control = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'ndxp.db'}"
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    for url in (
        f"sqlite:///{tmp_path / 'data' / 'ndxp.db'}",
        f"sqlite+aiosqlite:///{tmp_path / 'data' / '..' / 'data' / 'ndxp.db'}",
        f"sqlite:///{tmp_path / 'link' / 'ndxp.db'}",
    ):
        assert same_database(url, control), url
        config = {"connector.class": "sql-source", "dataset": "moh.x", "url": url}
        errors = GuardRails([], control).errors(config)
        assert errors == [
            {
                "name": "url",
                "message": "is the hub's own control-plane database: connectors may not read "
                "or write it",
            }
        ]
    assert not same_database(f"sqlite:///{tmp_path / 'source.db'}", control)
    assert not same_database("sqlite:///:memory:", control)
    assert not same_database("not a url", control)
