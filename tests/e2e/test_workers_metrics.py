"""``ndxp registry --workers 2`` on a hub's broker and control plane: ``/metrics``, whichever
worker answers it, counts every request every worker answered."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.core.local_kafka import free_port
from tests.fixtures.cli import clean_env, serving
from tests.fixtures.hub import Hub, descendants

REQUESTS = 120
SCRAPES = 12


@contextlib.contextmanager
def registry_workers(hub: Hub, data_dir: Path, workers: int) -> Iterator[tuple[str, Path]]:
    """``ndxp registry --workers N`` as its own process on the hub's broker and database."""
    port = free_port()
    env = clean_env(
        NDXP_DATA_DIR=str(data_dir),
        NDXP_DATABASE_URL=f"sqlite:///{hub.data_dir / 'ndxp.db'}",
        NDXP_KAFKA_BOOTSTRAP=f"127.0.0.1:{hub.kafka_port}",
        NDXP_AUTH_ISSUER=hub.gateway,
        NDXP_MIGRATE_ON_START="false",
    )
    log = data_dir.parent / "registry-workers.log"
    url = f"http://127.0.0.1:{port}"
    args = ["registry", "--port", str(port), "--workers", str(workers)]

    def ready(process: subprocess.Popen[bytes]) -> bool:  # every worker started, and answering
        return len(descendants(process.pid)) >= workers and _all_ready(url, workers)

    with serving(args, env, log, ready):
        yield url, log


def _all_ready(url: str, workers: int) -> bool:
    """A few fresh connections all answered ready (each may reach another worker)."""
    try:
        return all(
            httpx.get(f"{url}/readyz", timeout=2).status_code == 200 for _ in range(workers * 3)
        )
    except httpx.TransportError:
        return False


def answered(text: str, route: str) -> float:
    """``ndxp_http_requests_total`` of ``route``, summed over methods and statuses."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "ndxp_http_requests_total" and sample.labels.get("route") == route
    )


def test_counters_add_up_across_workers(shared_hub: Hub, tmp_path: Path) -> None:
    headers = shared_hub.headers()
    with registry_workers(shared_hub, tmp_path / "data", workers=2) as (url, log):

        def subjects(_: int) -> int:  # a fresh connection each: the kernel spreads them
            return httpx.get(f"{url}/subjects", headers=headers, timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(subjects, range(REQUESTS)))
        assert statuses == [200] * REQUESTS

        readings = []
        for _ in range(SCRAPES):
            scrape = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
            assert scrape.status_code == 200, scrape.text
            assert "_created" not in scrape.text
            readings.append(answered(scrape.text, "/subjects"))
        assert readings == [REQUESTS] * SCRAPES
        assert "Traceback" not in log.read_text()
