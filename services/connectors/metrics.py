"""The connect service's own metrics; sharing volume is counted by services.core.sharing."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from services.core.metrics import forget

STATES: Final = ("UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED")

RECORDS = Counter(
    "ndxp_connector_records_total",
    "Records a connector handled, by outcome (written, dead_lettered).",
    ["connector", "outcome"],
)
STATUS = Gauge(
    "ndxp_connector_status",
    "1 for a connector's current state, 0 for the others.",
    ["connector", "state"],
    multiprocess_mode="livemostrecent",
)


def set_status(connector: str, state: str | None) -> None:
    """Mark ``state`` as the connector's; None removes the connector's series (deleted, or
    moved to another worker, whose later values win)."""
    for each in STATES:
        if state is None:
            forget(STATUS, connector, each)
        else:
            STATUS.labels(connector, each).set(1 if each == state else 0)
