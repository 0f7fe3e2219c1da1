"""deploy/monitoring/rules/ as promtool (Debian's ``prometheus`` package) judges it: every file
valid, every unit test in deploy/monitoring/tests/ passing, every alert tested both firing and
quiet, and every alert's runbook entry present in docs/operations.md; the rules and the
Alertmanager configuration as ``ndxp monitor`` renders them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.hub.monitor import (
    ALERTMANAGER_CONFIG,
    RULES_DIR,
    alertmanager_argv,
    write_alertmanager_config,
    write_config,
)

MONITORING = RULES_DIR.parent
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted((MONITORING / "tests").glob("*.test.yml"))
OPERATIONS = MONITORING.parent.parent / "docs" / "operations.md"
Completed = subprocess.CompletedProcess[str]


def run(tool: str, package: str, *args: str, cwd: Path | None = None) -> Completed:
    binary = shutil.which(tool)
    assert binary, f"{tool} is missing: apt-get install {package} (.ci/run does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False, cwd=cwd)


def promtool(*args: str, cwd: Path | None = None) -> Completed:
    return run("promtool", "prometheus", *args, cwd=cwd)


def alerting_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_there_are_rules_and_tests() -> None:
    assert {p.name for p in RULE_FILES} >= {"ndxp-alerts.yml", "ndxp-recording.yml"}
    assert len(TEST_FILES) >= 2


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_the_rule_file_is_valid(path: Path) -> None:
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_the_rule_unit_tests_pass(path: Path) -> None:
    tested = promtool("test", "rules", path.name, cwd=path.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_broken_expectation_fails_promtool(tmp_path: Path) -> None:
    """The unit tests can fail: the same case expecting the wrong severity does."""
    source = MONITORING / "tests" / "ndxp-alerts.test.yml"
    text = source.read_text().replace("../rules/", f"{RULES_DIR}/")
    broken = text.replace(
        "{job: ndxp-gateway, instance: gw-1, severity: critical}",
        "{job: ndxp-gateway, instance: gw-1, severity: warning}",
        1,
    )
    assert broken != text
    (tmp_path / "broken.test.yml").write_text(broken)
    tested = promtool("test", "rules", "broken.test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "NdxpTargetDown" in tested.stdout + tested.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"


def test_every_alert_links_its_runbook_entry() -> None:
    docs = OPERATIONS.read_text()
    headings = {m.group(1) for m in re.finditer(r"^### (\w+)$", docs, re.MULTILINE)}
    for rule in alerting_rules():
        name = rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"docs/operations.md#{name.lower()}"
        assert name in headings, f"docs/operations.md has no '### {name}' entry"
        assert rule["labels"]["severity"] in {"critical", "warning"}


def test_no_rule_names_a_job_host_or_port() -> None:
    """The rules work unchanged under compose or Kubernetes, whatever the jobs are called."""
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                expr = rule["expr"]
                assert not re.search(r"\b(job|instance)\s*=~?", expr), expr
                assert not re.search(r"localhost|127\.0\.0\.1|:\d{2,5}\b", expr), expr


def test_the_rendered_configuration_loads_the_rules_and_the_alertmanager(tmp_path: Path) -> None:
    targets = {"ndxp-gateway": ["127.0.0.1:8080"]}
    config = write_config(tmp_path, targets, "t", alertmanagers=["127.0.0.1:9093"])

    assert sorted(p.name for p in (tmp_path / "rules").glob("*.yml")) == [
        p.name for p in RULE_FILES
    ]
    checked = promtool("check", "config", str(config))  # checks the rule files it names too
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in checked.stdout
    managers = json.loads((tmp_path / "targets" / "alertmanager.json").read_text())
    assert managers == [{"targets": ["127.0.0.1:9093"], "labels": {}}]
    # a rule file gone from deploy/ goes from the rendered copy at the next start
    (tmp_path / "rules" / "old.yml").write_text("groups: []\n")
    write_config(tmp_path, targets, "t")
    assert not (tmp_path / "rules" / "old.yml").exists()
    assert json.loads((tmp_path / "targets" / "alertmanager.json").read_text()) == []


@pytest.mark.parametrize("webhook", [None, "http://hooks.example.internal/ndxp"])
def test_the_alertmanager_configuration_is_valid(tmp_path: Path, webhook: str | None) -> None:
    shipped = run("amtool", "prometheus-alertmanager", "check-config", str(ALERTMANAGER_CONFIG))
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr

    path = write_alertmanager_config(tmp_path, webhook)

    checked = run("amtool", "prometheus-alertmanager", "check-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    urls = [
        hook["url"]
        for receiver in yaml.safe_load(path.read_text())["receivers"]
        for hook in receiver["webhook_configs"]
    ]
    assert urls == [webhook or "http://127.0.0.1:5001/ndxp-alerts"]
    argv = alertmanager_argv("am", path, 9999)
    assert "--web.listen-address=127.0.0.1:9999" in argv
    assert "--cluster.listen-address=" in argv  # no gossip port on a shared machine
