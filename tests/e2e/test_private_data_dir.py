"""The data dir is the hub user's alone: ``ndxp up`` and ``ndxp db migrate`` leave the directory
0700 and every file holding a secret 0600 under the usual umask (022), and narrow what an earlier
version left wider."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from tests.fixtures.hub import start_hub


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)  # what the processes started meanwhile inherit
    try:
        yield
    finally:
        os.umask(before)


def test_up_keeps_the_data_dir_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with usual_umask():
        hub = start_hub(tmp_path)
    try:
        hub.token()  # a token issued: signing keys made, sealed with the key file, stored
        db = data / "ndxp.db"
        private_files = [
            db,
            data / "ndxp.db-wal",  # the services hold connections: WAL and shared memory exist
            data / "ndxp.db-shm",
            data / "keys" / "kek",
            data / "demo-client.json",
        ]
        assert {str(p.relative_to(data)): mode(p) for p in private_files} == {
            str(p.relative_to(data)): 0o600 for p in private_files
        }
        for directory in (data, data / "keys", data / "kafka"):
            assert mode(directory) == 0o700, directory
    finally:
        assert hub.stop() == 0


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env["NDXP_DATA_DIR"] = str(data)
    with usual_umask():
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def test_db_migrate_creates_a_private_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _cli(data, "db", "migrate")
    assert done.returncode == 0, done.stderr
    assert (mode(data), mode(data / "ndxp.db")) == (0o700, 0o600)


def test_db_migrate_narrows_an_earlier_wider_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    db = data / "ndxp.db"
    with usual_umask(), closing(sqlite3.connect(db)) as earlier:  # left open: WAL and shm stay
        earlier.execute("PRAGMA journal_mode=WAL")
        earlier.execute("CREATE TABLE leftover (x)")
        earlier.commit()
        companions = [data / "ndxp.db-wal", data / "ndxp.db-shm"]
        assert [mode(p) for p in (db, *companions)] == [0o644] * 3
        done = _cli(data, "db", "migrate")
        assert done.returncode == 0, done.stderr
        assert [mode(p) for p in (db, *companions)] == [0o600] * 3
    assert mode(data) == 0o755  # the database's directory was there already: the operator's
