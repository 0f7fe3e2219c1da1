"""Several worker processes of one service behind one port, whose metrics add up.

:func:`serve_workers` gives the workers a fresh ``PROMETHEUS_MULTIPROC_DIR`` before the first of
them starts (they inherit it), so each writes its values there and ``/metrics``, whichever worker
answers, merges them all (:func:`services.core.metrics.exposition`). A worker that dies is
marked dead there by the supervisor, one that stops cleanly marks itself
(:func:`services.core.metrics.retire_process`); the directory goes when the service stops.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from prometheus_client.multiprocess import mark_process_dead
from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from services.core.metrics import MULTIPROCESS_DIR

log = logging.getLogger(__name__)


class Workers(Multiprocess):
    """uvicorn's supervisor, which also forgets the live gauges of each worker it replaces."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                mark_process_dead(pid)  # type: ignore[no-untyped-call]


def serve_workers(factory: str, workers: int, *, host: str, port: int, grace: int) -> None:
    """Serve the app ``factory`` (``module:create_app``) from ``workers`` processes until
    SIGINT or SIGTERM."""
    directory = tempfile.mkdtemp(prefix="ndxp-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    log.info("%d workers; their metrics are merged in %s", workers, directory)
    config = Config(
        factory,
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=grace,
    )
    try:
        Workers(config, sockets=[config.bind_socket()]).run()
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)
