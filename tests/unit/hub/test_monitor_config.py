"""deploy/monitoring/prometheus.yml as promtool (Debian's ``prometheus`` package) judges it: as
shipped, and as ``ndxp monitor`` renders it for a hub."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import yaml

from services.hub.monitor import PROMETHEUS_CONFIG, TOKEN_FILE, write_config

TARGETS = {
    "prometheus": ["127.0.0.1:9090"],
    "ndxp-registry": ["127.0.0.1:8081"],
    "ndxp-gateway": ["127.0.0.1:8080"],
    "ndxp-connect": ["127.0.0.1:8083"],
    "kafka-broker": ["127.0.0.1:9404"],
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: apt-get install prometheus (.ci/run does)"
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


def test_the_shipped_configuration_is_valid() -> None:
    checked = promtool("check", "config", "--syntax-only", str(PROMETHEUS_CONFIG))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rendered_configuration_is_complete_and_valid(tmp_path: Path) -> None:
    config = write_config(tmp_path / "monitoring", TARGETS, "a-token", scrape_interval="2s")

    checked = promtool("check", "config", str(config))  # target and token files must exist too
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "WARNING" not in checked.stdout + checked.stderr
    rendered = yaml.safe_load(config.read_text())
    jobs = {job["job_name"]: job for job in rendered["scrape_configs"]}
    assert set(jobs) == set(TARGETS)
    assert rendered["global"]["scrape_interval"] == "2s"
    for job, scrape in jobs.items():
        groups = json.loads((config.parent / "targets" / f"{job}.json").read_text())
        assert groups == [{"targets": TARGETS[job], "labels": {}}]
        wants_token = job.startswith("ndxp-")
        assert ("authorization" in scrape) is wants_token, job
    token = config.parent / TOKEN_FILE
    assert token.read_text() == "a-token"
    assert token.stat().st_mode & 0o777 == 0o600
    # nothing in the shipped file names a host: every target comes from a file
    shipped = PROMETHEUS_CONFIG.read_text()
    assert "static_configs" not in shipped
    assert "127.0.0.1" not in shipped
    assert "localhost" not in shipped


def test_a_hub_without_a_local_broker_has_no_broker_target(tmp_path: Path) -> None:
    config = write_config(tmp_path, {**TARGETS, "kafka-broker": []}, "t")
    assert json.loads((config.parent / "targets" / "kafka-broker.json").read_text()) == []
    checked = promtool("check", "config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
