"""What goes wrong for a user of the ``ndxp`` command is told in one line, never a traceback: a
data dir or database that is not there, a broker or a service that does not run, a bad value."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from services.core.local_kafka import free_port
from tests.fixtures.cli import clean_env, ndxp


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command in a shell with nothing of ndxp's exported but ``env``."""
    return ndxp(*args, env=clean_env(**env))


def one_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The only line on stderr, after checking the exit status."""
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    "command",
    [["agencies", "list"], ["clients", "list", "demo"], ["keys", "list"], ["audit", "verify"]],
)
def test_a_data_dir_that_does_not_exist_is_refused_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    data_dir = tmp_path / "typo"
    line = one_line(run(*command, NDXP_DATA_DIR=str(data_dir)), 2)
    assert line == (
        f"ndxp {' '.join(command[:2])}: no control plane at {data_dir}/ndxp.db (the data dir "
        f"{data_dir} does not exist): run `ndxp db migrate` to create it, or set NDXP_DATA_DIR or "
        "NDXP_DATABASE_URL"
    )
    assert not data_dir.exists()


def test_db_migrate_creates_what_the_other_commands_refuse(tmp_path: Path) -> None:
    database = tmp_path / "control.db"
    url = f"sqlite:///{database}"
    assert "no control plane at" in one_line(run("agencies", "list", NDXP_DATABASE_URL=url), 2)
    sqlite3.connect(database).close()  # an empty file: not a control plane either
    line = one_line(run("agencies", "list", NDXP_DATABASE_URL=url), 2)
    assert line.startswith(f"ndxp agencies list: the control plane at {database} is not migrated")

    migrated = run("db", "migrate", NDXP_DATABASE_URL=url)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stderr == ""  # no INFO lines of Alembic's
    listed = run("agencies", "list", NDXP_DATABASE_URL=url)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


def test_audit_verify_kafka_says_no_broker_runs(tmp_path: Path) -> None:
    run("db", "migrate", NDXP_DATA_DIR=str(tmp_path))
    line = one_line(run("audit", "verify", "--kafka", NDXP_DATA_DIR=str(tmp_path)), 2)
    assert (
        line == f"ndxp audit verify: no Kafka broker runs for {tmp_path}; set NDXP_KAFKA_BOOTSTRAP"
    )


def test_a_service_started_alone_without_a_broker_says_so(tmp_path: Path) -> None:
    line = one_line(run("connect", NDXP_DATA_DIR=str(tmp_path)), 2)
    assert line == f"ndxp connect: no Kafka broker runs for {tmp_path}; set NDXP_KAFKA_BOOTSTRAP"


def test_connect_given_half_a_client_says_so_before_starting(tmp_path: Path) -> None:
    line = one_line(run("connect", NDXP_DATA_DIR=str(tmp_path), NDXP_CONNECT_CLIENT_ID="c"), 1)
    assert line == (
        "ndxp connect: NDXP_CONNECT_CLIENT_ID needs NDXP_CONNECT_CLIENT_SECRET or "
        "NDXP_CONNECT_CLIENT_SECRET_FILE, and a secret needs the client id"
    )
    missing = tmp_path / "no-secret"
    env = {"NDXP_CONNECT_CLIENT_ID": "c", "NDXP_CONNECT_CLIENT_SECRET_FILE": str(missing)}
    line = one_line(run("connect", NDXP_DATA_DIR=str(tmp_path), **env), 1)
    assert line.startswith("ndxp connect: NDXP_CONNECT_CLIENT_SECRET_FILE: [Errno 2] ")


def test_a_service_that_is_down_is_one_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    env = {"NDXP_DATA_DIR": str(tmp_path)}
    for command in (["connect", "list", "--url", down], ["connect", "status", "x", "--url", down]):
        line = one_line(run(*command, **env), 1)
        assert line == f"ndxp connect {command[1]}: cannot reach {down}: connection refused"
    check = ["schemas", "check", "--registry", down, "--root", str(Path(__file__).parents[2])]
    assert (
        one_line(run(*check, **env), 1)
        == f"ndxp schemas check: cannot reach {down}: connection refused"
    )
    gateway = f"http://127.0.0.1:{free_port()}"  # the token endpoint is the one away
    with_client = run(
        *check, "--client-id", "c", "--client-secret", "s", "--gateway", gateway, **env
    )
    assert (
        one_line(with_client, 1)
        == f"ndxp schemas check: cannot reach {gateway}: connection refused"
    )


def test_bad_values_and_missing_files_are_one_line(tmp_path: Path) -> None:
    bad_port = one_line(run("connect", "list", NDXP_CONNECT_PORT="eighty"), 2)
    assert bad_port.startswith("ndxp connect list: invalid configuration: NDXP_CONNECT_PORT: ")
    missing = tmp_path / "nothing.yaml"
    line = one_line(run("connect", "apply", str(missing), NDXP_DATA_DIR=str(tmp_path)), 1)
    assert line == f"ndxp connect apply: {missing}: No such file or directory"
    half = one_line(run("connect", "list", "--client-id", "c", NDXP_DATA_DIR=str(tmp_path)), 2)
    assert half == "ndxp connect list: --client-id needs --client-secret (or NDXP_CLIENT_SECRET)"
