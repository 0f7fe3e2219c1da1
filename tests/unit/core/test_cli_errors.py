"""Which failures a command tells in one line, and which are bugs that keep their traceback."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from services.core.cli.errors import CommandError, expected, run_guarded
from services.core.config import ConnectSettings
from services.core.errors import NotFound


def test_a_server_that_cannot_be_reached_is_named_without_its_path() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:8083/connectors?token=x")
    refused = expected(httpx.ConnectError("[Errno 111] Connection refused", request=request))
    assert refused is not None
    assert refused.message == "cannot reach http://127.0.0.1:8083: connection refused"
    slow = expected(httpx.ReadTimeout("timed out", request=request))
    assert slow is not None and slow.message.startswith("cannot reach http://127.0.0.1:8083: no")


def test_settings_errors_files_and_refusals_are_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_CONNECT_PORT", "eighty")
    with pytest.raises(ValidationError) as invalid:
        ConnectSettings()
    told = expected(invalid.value)
    assert told is not None and told.exit_code == 2
    assert told.message.startswith("invalid configuration: NDXP_CONNECT_PORT: ")
    missing = expected(FileNotFoundError(2, "No such file or directory", "/x.yaml"))
    assert missing is not None and missing.message == "/x.yaml: No such file or directory"
    refused = expected(NotFound("agency 'x' does not exist"))
    assert refused is not None and refused.message == "agency 'x' does not exist"


def test_anything_else_is_a_bug_and_keeps_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert expected(KeyError("oops")) is None

    def bug() -> int:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        run_guarded("ndxp x", bug)

    def refused() -> int:
        raise CommandError("nothing here", 2)

    assert run_guarded("ndxp x", refused) == 2
    assert capsys.readouterr().err == "ndxp x: nothing here\n"

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_guarded("ndxp x", interrupted) == 130
