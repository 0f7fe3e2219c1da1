"""Process-wide Prometheus metrics shared by every service (names follow Prometheus conventions).

Metrics are defined once per process, labelled by ``service``, so several apps in one process
(tests, ``ndxp up`` in-process runs) share them without duplicate registration. No counter or
histogram exports a ``_created`` series: Prometheus never reads it, and it doubled their series.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from services import __version__

disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide, read at each scrape

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
    "ndxp_build_info", "Always 1; labels name the running build.", ["service", "version"]
)
READY = Gauge(
    "ndxp_ready",
    "1 when the service's last readiness check passed (every NDXP_KAFKA_WATCH_INTERVAL seconds, "
    "and on each /readyz).",
    ["service"],
)
# What a client of the cluster sees, from each service (services/core/kafka/watch.py).
KAFKA_UP = Gauge(
    "ndxp_kafka_up", "1 when the Kafka cluster answered the service's last look at it.", ["service"]
)
KAFKA_BROKERS = Gauge(
    "ndxp_kafka_brokers",
    "Brokers the cluster lists that the service could connect to at its last look.",
    ["service"],
)
KAFKA_UNDER_REPLICATED = Gauge(
    "ndxp_kafka_under_replicated_partitions",
    "Partitions of an ndxp topic whose in-sync replicas are fewer than their replicas.",
    ["service", "topic"],
)
KAFKA_OFFLINE = Gauge(
    "ndxp_kafka_offline_partitions",
    "Partitions of an ndxp topic without a leader: nothing can be written to or read from them.",
    ["service", "topic"],
)


def mark_started(service: str) -> None:
    BUILD_INFO.labels(service=service, version=__version__).set(1)
