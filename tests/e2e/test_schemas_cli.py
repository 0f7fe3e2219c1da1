"""`ndxp schemas lint|check|push` as an agency's CI would run them on its schemas/ tree."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.fixtures.cli import ndxp as run_ndxp

REPO = Path(__file__).resolve().parents[2]


def ndxp(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return run_ndxp(*args, cwd=cwd)


def test_lint_passes_on_the_shipped_contracts() -> None:
    result = ndxp("schemas", "lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 contract(s) linted, all clean" in result.stdout


def test_lint_fails_on_an_undocumented_contract(tmp_path: Path) -> None:
    bad = tmp_path / "schemas" / "mps" / "bad.avsc"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        json.dumps(
            {"type": "record", "name": "Bad", "fields": [{"name": "ho_ten", "type": "string"}]}
        )
    )
    result = ndxp("schemas", "lint", str(bad))
    assert result.returncode == 1
    for rule in ("record-doc", "field-doc", "namespace", "pii-suspect"):
        assert rule in result.stdout


def test_push_then_check_then_evolve(tmp_path: Path, fresh_registry_url: str) -> None:
    shutil.copytree(REPO / "schemas", tmp_path / "schemas")
    args = ("--registry", fresh_registry_url, "--root", str(tmp_path))

    first = ndxp("schemas", "check", *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count(": new") == 5

    pushed = ndxp("schemas", "push", *args)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert pushed.stdout.count(": registered (id ") == 5
    assert "mps.residence-changes.v1-value: registered" in pushed.stdout

    again = ndxp("schemas", "push", *args)
    assert again.stdout.count(": unchanged (version 1)") == 5

    path = tmp_path / "schemas" / "vnpost" / "postal-codes.avsc"
    contract = json.loads(path.read_text())
    contract["fields"].append(
        {"name": "note", "type": ["null", "string"], "default": None, "doc": "Free-text note."}
    )
    path.write_text(json.dumps(contract))
    compatible = ndxp("schemas", "check", *args)
    assert compatible.returncode == 0
    assert "vnpost.postal-codes.v1-value: compatible" in compatible.stdout

    contract["fields"].append({"name": "required_now", "type": "long", "doc": "No default."})
    path.write_text(json.dumps(contract))
    refused = ndxp("schemas", "check", *args)
    assert refused.returncode == 1
    assert "vnpost.postal-codes.v1-value: incompatible" in refused.stdout
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in refused.stdout
    push_refused = ndxp("schemas", "push", *args)
    assert push_refused.returncode == 1
    assert "vnpost.postal-codes.v1-value: incompatible" in push_refused.stdout
