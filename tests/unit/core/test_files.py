"""Private files and directories on a real file system, under the usual umask (022)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.files import private_dir, private_file, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_missing_directories_are_created_0700(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    data = private_dir(tmp_path / "a" / "b" / "data")
    assert data.is_dir()
    assert [mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", data)] == [0o700] * 3
    assert mode(tmp_path) == 0o755  # an existing parent is not ndxp's


def test_a_wider_directory_is_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    private_dir(data)
    assert mode(data) == 0o700


def test_a_shared_directory_is_only_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp is
    with caplog.at_level(logging.WARNING, logger="services.core.files"):
        private_dir(shared)
    assert mode(shared) == 0o1777
    assert "open to other users" in caplog.text


def test_a_private_file_is_created_0600_and_a_wider_one_narrowed(tmp_path: Path) -> None:
    fresh = private_file(tmp_path / "keys" / "secret")
    assert (mode(fresh), mode(fresh.parent), fresh.read_bytes()) == (0o600, 0o700, b"")
    old = tmp_path / "old"
    old.write_text("kept")
    old.chmod(0o644)
    private_file(old)
    assert (mode(old), old.read_text()) == (0o600, "kept")


def test_write_private_replaces_a_wider_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "data" / "client.json"
    write_private(target, "first")
    assert (mode(target), mode(target.parent), target.read_text()) == (0o600, 0o700, "first")
    target.chmod(0o644)
    write_private(target, "second")
    assert (mode(target), target.read_text()) == (0o600, "second")
    assert sorted(p.name for p in target.parent.iterdir()) == ["client.json"]  # no leftovers
