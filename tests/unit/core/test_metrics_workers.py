"""Metrics of several worker processes merged from a multiprocess directory, as ``/metrics`` of a
``--workers N`` service answers them. Each worker is a real process (values are chosen when
``prometheus_client`` is imported, so the test's own process cannot play one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

WORKER = """
import sys
from services.core import metrics
from services.connectors.metrics import RECORDS, set_status
from services.gateway.subscriptions.limits import STREAMS_OPEN
metrics.HTTP_REQUESTS.labels("registry", "GET", "/subjects", "200").inc(int(sys.argv[1]))
STREAMS_OPEN.labels("hcm").inc()
set_status("c1", sys.argv[2] if sys.argv[2] != "-" else None)
if sys.argv[3] == "exit":
    metrics.retire_process()
sys.stdout.buffer.write(metrics.exposition())
"""


def worker(directory: Path, requests: int, state: str, end: str = "stay") -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(requests), state, end],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (each.name, tuple(sorted(each.labels.items()))): each.value
        for family in text_string_to_metric_families(text)
        for each in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def test_counters_add_up_and_live_gauges_forget_a_retired_worker(tmp_path: Path) -> None:
    worker(tmp_path, 3, "RUNNING")
    text = worker(tmp_path, 4, "RUNNING", end="exit")
    requests = {"service": "registry", "method": "GET", "route": "/subjects", "status": "200"}
    assert value(text, "ndxp_http_requests_total", **requests) == 7
    # the second worker retired itself: its open stream no longer counts, the first's does
    assert value(text, "ndxp_gateway_streams_open", agency="hcm") == 1
    assert value(text, "ndxp_connector_status", connector="c1", state="RUNNING") == 1
    assert "_created" not in text


def test_a_forgotten_series_is_absent_until_a_worker_sets_it_again(tmp_path: Path) -> None:
    worker(tmp_path, 1, "RUNNING")
    text = worker(tmp_path, 1, "-")  # the connector left this service (deleted or moved)
    assert value(text, "ndxp_connector_status", connector="c1", state="RUNNING") is None
    assert (
        value(
            text,
            "ndxp_http_requests_total",
            service="registry",
            method="GET",
            route="/subjects",
            status="200",
        )
        == 2
    )
    text = worker(tmp_path, 0, "PAUSED")  # it came back, paused: the latest value wins
    assert value(text, "ndxp_connector_status", connector="c1", state="PAUSED") == 1
    assert value(text, "ndxp_connector_status", connector="c1", state="RUNNING") == 0
