"""Sharing volume, counted in one place for every path that shares (publish, pull, stream,
webhook, connectors). Labels stay bounded: agency and dataset ids, channels, reasons — never
record keys or client ids."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from services.core.kafka.offsets import BUDGET

CHANNELS: Final = ("pull", "stream", "connector")  # push subscriptions are webhook-sink connectors
# Why a publish request was refused: a fixed set (count_rejected's callers), each zero from
# the moment a dataset is known, so its first refusal is an increase Prometheus sees.
REJECT_REASONS: Final = ("forbidden", "invalid", "too_large", "unavailable")

EVENTS_PUBLISHED = Counter(
    "ndxp_events_published_total",
    "Events written to a dataset, by provider agency, dataset and channel.",
    ["provider", "dataset", "channel"],
)
BYTES_PUBLISHED = Counter(
    "ndxp_published_bytes_total",
    "Bytes of encoded events written to a dataset.",
    ["provider", "dataset", "channel"],
)
EVENTS_DELIVERED = Counter(
    "ndxp_events_delivered_total",
    "Events delivered to a consumer agency, by provider, consumer, dataset and channel.",
    ["provider", "consumer", "dataset", "channel"],
)
BYTES_DELIVERED = Counter(
    "ndxp_delivered_bytes_total",
    "Bytes of events delivered to a consumer agency.",
    ["provider", "consumer", "dataset", "channel"],
)
PUBLISH_REJECTED = Counter(
    "ndxp_publish_rejected_total",
    "Publish requests refused, by dataset and reason (invalid, too_large, unavailable, ...).",
    ["dataset", "reason"],
)
PUBLISH_DURATION = Histogram(
    "ndxp_publish_duration_seconds",
    "Time from a publish request's arrival to Kafka's acknowledgement of its batch.",
    ["dataset"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DELIVERY_LAG = Histogram(
    "ndxp_delivery_lag_seconds",
    "Time from an event's publication to its delivery, by consumer agency, dataset and channel.",
    ["consumer", "dataset", "channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
LAG_HELP: Final = (
    "transaction markers and aborted records excluded, measured every NDXP_KAFKA_LAG_INTERVAL "
    f"seconds by the replica holding the lease (an upper bound while more than {BUDGET:,} "
    "records behind on a partition: the part not yet counted is counted as offsets)."
)
SUBSCRIPTION_LAG = Gauge(
    "ndxp_subscription_lag_records",
    "Records of a dataset a subscription has yet to acknowledge (kind pull: pulls and streams; "
    "push: its webhook connector), " + LAG_HELP,
    ["consumer", "dataset", "subscription", "kind"],
    multiprocess_mode="livemostrecent",  # the lease holder's, among a service's workers too
)
CONNECTOR_SINK_LAG = Gauge(
    "ndxp_connector_sink_lag_records",
    "Records of a dataset a sink connector has yet to deliver (consumer: the agency its "
    "agreement is for, empty without one), " + LAG_HELP,
    ["connector", "consumer", "dataset"],
    multiprocess_mode="livemostrecent",
)
AGREEMENTS = Gauge(
    "ndxp_agreements",
    "Data-sharing agreements, by state.",
    ["state"],
    multiprocess_mode="livemostrecent",
)


def count_published(provider: str, dataset: str, channel: str, *, events: int, size: int) -> None:
    EVENTS_PUBLISHED.labels(provider, dataset, channel).inc(events)
    BYTES_PUBLISHED.labels(provider, dataset, channel).inc(size)


def count_delivered(
    provider: str, consumer: str, dataset: str, channel: str, *, events: int, size: int
) -> None:
    EVENTS_DELIVERED.labels(provider, consumer, dataset, channel).inc(events)
    BYTES_DELIVERED.labels(provider, consumer, dataset, channel).inc(size)


def count_rejected(dataset: str, reason: str) -> None:
    PUBLISH_REJECTED.labels(dataset, reason).inc()


def known_datasets(datasets: Iterable[str]) -> None:
    """Give each dataset its refusal counters (one per reason) and publish histogram at zero."""
    for dataset in datasets:
        for reason in REJECT_REASONS:
            PUBLISH_REJECTED.labels(dataset, reason)
        PUBLISH_DURATION.labels(dataset)
