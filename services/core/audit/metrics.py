"""The audit trail's metrics: records appended to the chain, and what the last background check of
the chain found (:mod:`services.core.audit.watch`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from services.core.audit.event import ACTIONS

RECORDS = Counter(
    "ndxp_audit_records_total",
    "Audit records this process appended to the chain (durable in the control plane), by action.",
    ["action"],
)
for _action in ACTIONS:
    RECORDS.labels(_action)
VERIFIED_SEQ = Gauge(
    "ndxp_audit_chain_verified_seq",
    "The last record of the audit chain found intact from the genesis (its seq).",
    multiprocess_mode="livemax",
)
VERIFIED_AT = Gauge(
    "ndxp_audit_chain_verified_timestamp_seconds",
    "When the audit chain was last checked and found intact (Unix time).",
    multiprocess_mode="livemax",
)
INTACT = Gauge(
    "ndxp_audit_chain_intact",
    "1 when the last check of the audit chain found it intact, 0 when it found a problem.",
    multiprocess_mode="livemin",
)
VERIFICATION_FAILURES = Counter(
    "ndxp_audit_chain_verification_failures_total",
    "Checks of the audit chain that found an edited, missing or repeated record.",
)
