"""Process-wide Prometheus metrics shared by every service (names follow Prometheus conventions).

Metrics are defined once per process, labelled by ``service``, so several apps in one process
(tests, ``ndxp up`` in-process runs) share them without duplicate registration. No counter or
histogram exports a ``_created`` series: Prometheus never reads it, and it doubled their series.

With several workers (``ndxp <service> --workers N``) the CLI sets ``PROMETHEUS_MULTIPROC_DIR``
before they start: every worker writes its values to files there, and :func:`exposition` merges
them, so ``/metrics`` answered by any worker shows the service's counters summed over all of them.
Each gauge therefore declares how its workers' values combine (``multiprocess_mode``); ``live*``
modes forget a worker once it is gone (:func:`retire_process`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from services import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide, read at each scrape

MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "ndxp_http_requests_total",
    "HTTP requests answered, by service, method, route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "ndxp_http_request_duration_seconds",
    "Time to answer an HTTP request, by service, method and route template.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BUILD_INFO = Gauge(
    "ndxp_build_info",
    "Always 1; labels name the running build.",
    ["service", "version"],
    multiprocess_mode="max",
)
READY = Gauge(
    "ndxp_ready",
    "1 when the service's last readiness check passed (every NDXP_KAFKA_WATCH_INTERVAL seconds, "
    "and on each /readyz); with several workers, when every worker's did.",
    ["service"],
    multiprocess_mode="livemin",
)
# What a client of the cluster sees, from each service (services/core/kafka/watch.py). Every
# worker looks at the same cluster: the most recent look of any of them is the service's.
KAFKA_UP = Gauge(
    "ndxp_kafka_up",
    "1 when the Kafka cluster answered the service's last look at it.",
    ["service"],
    multiprocess_mode="livemostrecent",
)
KAFKA_BROKERS = Gauge(
    "ndxp_kafka_brokers",
    "Brokers the cluster lists that the service could connect to at its last look.",
    ["service"],
    multiprocess_mode="livemostrecent",
)
KAFKA_UNDER_REPLICATED = Gauge(
    "ndxp_kafka_under_replicated_partitions",
    "Partitions of an ndxp topic whose in-sync replicas are fewer than their replicas.",
    ["service", "topic"],
    multiprocess_mode="livemostrecent",
)
KAFKA_OFFLINE = Gauge(
    "ndxp_kafka_offline_partitions",
    "Partitions of an ndxp topic without a leader: nothing can be written to or read from them.",
    ["service", "topic"],
    multiprocess_mode="livemostrecent",
)

KAFKA_LOG_DIR_TOTAL = Gauge(
    "ndxp_kafka_log_dir_total_bytes",
    "Size of the file system holding a broker's log directory, as the broker reports it.",
    ["service", "broker", "log_dir"],
    multiprocess_mode="livemostrecent",
)
KAFKA_LOG_DIR_USABLE = Gauge(
    "ndxp_kafka_log_dir_usable_bytes",
    "Bytes still usable on the file system holding a broker's log directory.",
    ["service", "broker", "log_dir"],
    multiprocess_mode="livemostrecent",
)


def mark_started(service: str) -> None:
    BUILD_INFO.labels(service=service, version=__version__).set(1)


def multiprocess_dir() -> str | None:
    """Where the workers of a multi-worker service keep their values; None in a lone process."""
    return os.environ.get(MULTIPROCESS_DIR) or None


def exposition() -> bytes:
    """What ``/metrics`` answers: this process's registry, or every worker's values merged."""
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    registry.register(_Workers(directory))
    return generate_latest(registry)


def forget(gauge: Gauge, *labels: str) -> None:
    """Remove one series of ``gauge`` (a deleted connector, a topic gone).

    Values in multiprocess files cannot be removed, so there the series is set to NaN, which
    :func:`exposition` leaves out; the gauge must then be a ``*mostrecent`` one, so that a later
    value from any worker brings the series back and a later NaN hides it again.
    """
    if multiprocess_dir() is None:
        with contextlib.suppress(KeyError):
            gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(math.nan)


def retire_process() -> None:
    """A worker stopping: its ``live*`` gauges stop counting (open streams, readiness, ...)."""
    directory = multiprocess_dir()
    if directory is not None:
        mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


class _Workers:
    """Every worker's values from the multiprocess directory, forgotten gauge series left out."""

    def __init__(self, directory: str) -> None:
        self._merged = MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for metric in self._merged.collect():  # type: ignore[no-untyped-call]
            if metric.type == "gauge":
                metric.samples = [each for each in metric.samples if not math.isnan(each.value)]
            yield metric
