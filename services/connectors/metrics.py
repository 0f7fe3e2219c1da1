"""The connect service's own metrics; sharing volume is counted by services.core.sharing."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from services.core.metrics import forget

STATES: Final = ("UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED")
# What becomes of the records a connector handles, by its kind; and why its task starts again.
OUTCOMES: Final = {"source": ("written", "dead_lettered"), "sink": ("delivered", "dead_lettered")}
RESTART_REASONS: Final = ("requested", "config", "resumed")

RECORDS = Counter(
    "ndxp_connector_records_total",
    "Records a connector handled, by outcome: written to its dataset (source), delivered to its "
    "target (sink), or dead_lettered.",
    ["connector", "outcome"],
)
RESTARTS = Counter(
    "ndxp_connector_restarts_total",
    "Times a connector's task started again on this worker, by reason: a restart request, a "
    "changed config, or resumed after it had FAILED or was STOPPED.",
    ["connector", "reason"],
)
SOURCE_LAG = Gauge(
    "ndxp_connector_source_lag_records",
    "Records a source connector's system holds after its offset, not yet written (sources that "
    "can tell: sql-source outside bulk mode; counted every few seconds, up to 1,000,000).",
    ["connector"],
    multiprocess_mode="livemostrecent",
)
STATUS = Gauge(
    "ndxp_connector_status",
    "1 for a connector's current state, 0 for the others.",
    ["connector", "state"],
    multiprocess_mode="livemostrecent",
)


def known_connector(connector: str, kind: str) -> None:
    """Give a connector its record and restart counters at 0, for its first to be an increase."""
    for outcome in OUTCOMES.get(kind, ()):
        RECORDS.labels(connector, outcome)
    for reason in RESTART_REASONS:
        RESTARTS.labels(connector, reason)


def set_status(connector: str, state: str | None) -> None:
    """Mark ``state`` as the connector's; None removes the connector's series (deleted, or
    moved to another worker, whose later values win)."""
    if state is None:
        forget(SOURCE_LAG, connector)
    for each in STATES:
        if state is None:
            forget(STATUS, connector, each)
        else:
            STATUS.labels(connector, each).set(1 if each == state else 0)
