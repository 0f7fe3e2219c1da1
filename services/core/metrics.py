"""Process-wide Prometheus metrics shared by every service (names follow Prometheus conventions).

Metrics are defined once per process, labelled by ``service``, so several apps in one process
(tests, ``ndxp up`` in-process runs) share them without duplicate registration.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services import __version__

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
READY = Gauge("ndxp_ready", "1 when the service's last readiness check passed.", ["service"])


def mark_started(service: str) -> None:
    BUILD_INFO.labels(service=service, version=__version__).set(1)
