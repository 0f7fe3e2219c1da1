"""An audit record and its place in the hash chain.

Each record carries the SHA-256 of the one before it (``prev_hash``) and its own ``hash`` over
its canonical JSON form, so editing, inserting or removing any record breaks the chain from
there on. The genesis record's ``prev_hash`` is 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

GENESIS: Final = "0" * 64

ACTIONS: Final = frozenset(
    {
        "publish",
        "publish.abort",
        "deliver",
        "agreement.request",
        "agreement.approve",
        "agreement.reject",
        "agreement.revoke",
        "agreement.expire",
        "dataset.create",
        "contract.evolve",
        "subscription.create",
        "subscription.reset",
        "subscription.delete",
        "token.issue",
        "token.revoke",
    }
)

# The fields a record's hash covers, in the order they are listed when shown.
HASHED_FIELDS: Final = (
    "seq",
    "id",
    "time",
    "action",
    "actor_agency",
    "actor_client",
    "provider_agency",
    "consumer_agency",
    "dataset_id",
    "agreement_id",
    "record_count",
    "bytes",
    "offsets",
    "request_id",
    "details",
    "prev_hash",
)
# The columns of a stored record: what it hashes, and the hash.
RECORD_COLUMNS: Final = (*HASHED_FIELDS, "hash")


@dataclass(frozen=True)
class AuditEvent:
    """What happened, as the code that shared something says it: who, what, under which
    agreement, how many records and bytes, at which offsets (``{partition: [first, last]}``)."""

    action: str
    actor_agency: str | None
    actor_client: str | None
    dataset: str | None = None
    agreement: str | None = None
    provider: str | None = None
    consumer: str | None = None
    records: int = 0
    bytes: int = 0
    offsets: Mapping[Any, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown audit action {self.action!r}")


def as_json_value(value: Any) -> Any:
    """The value as it reads back from JSON (partition numbers as string keys, tuples as lists),
    so a hash computed before storing matches one computed after."""
    return json.loads(json.dumps(value, default=str))


def record_fields(
    event: AuditEvent, *, seq: int, record_id: str, time: datetime, request_id: str | None,
    prev_hash: str,
) -> dict[str, Any]:  # fmt: skip
    """The stored fields of ``event`` at position ``seq`` of the chain (``hash`` excluded)."""
    return {
        "seq": seq,
        "id": record_id,
        "time": time,
        "action": event.action,
        "actor_agency": event.actor_agency,
        "actor_client": event.actor_client,
        "provider_agency": event.provider,
        "consumer_agency": event.consumer,
        "dataset_id": event.dataset,
        "agreement_id": event.agreement,
        "record_count": event.records,
        "bytes": event.bytes,
        "offsets": None if event.offsets is None else as_json_value(event.offsets),
        "request_id": request_id,
        "details": as_json_value(dict(event.details)),
        "prev_hash": prev_hash,
    }


def canonical(fields: Mapping[str, Any]) -> str:
    """The text a record's hash is taken over: its hashed fields as sorted, compact JSON."""
    chosen = {name: fields[name] for name in HASHED_FIELDS}
    time = chosen["time"]
    if isinstance(time, datetime):
        chosen["time"] = time.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps(chosen, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


def stored_fields(row: Any) -> dict[str, Any]:
    """A stored record (an ``AuditRecord`` row) as the field mapping the chain functions take."""
    return {name: getattr(row, name) for name in RECORD_COLUMNS}


class AuditTrail(Protocol):
    """What records an act of sharing: an :class:`~services.core.audit.log.AuditLog`, or a
    test's stand-in."""

    async def record(self, event: AuditEvent) -> str: ...
