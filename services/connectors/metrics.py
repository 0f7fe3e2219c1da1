"""The connect service's own metrics; sharing volume is counted by services.core.sharing."""

from __future__ import annotations

import contextlib
from typing import Final

from prometheus_client import Counter, Gauge

STATES: Final = ("UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED")

RECORDS = Counter(
    "ndxp_connector_records",
    "Records a connector handled, by outcome (written, dead_lettered).",
    ["connector", "outcome"],
)
STATUS = Gauge(
    "ndxp_connector_status",
    "1 for a connector's current state, 0 for the others.",
    ["connector", "state"],
)


def set_status(connector: str, state: str | None) -> None:
    """Mark ``state`` as the connector's; None removes the connector's series (deleted)."""
    for each in STATES:
        if state is None:
            with contextlib.suppress(KeyError):
                STATUS.remove(connector, each)
        else:
            STATUS.labels(connector, each).set(1 if each == state else 0)
