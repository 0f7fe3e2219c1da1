"""registry schemas: fingerprints that key order does not change

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:00:00

A schema's fingerprint (what "the same schema" means) was a hash of its text as registered, so a
schema registered with its keys in one order and looked up in another (Confluent's Java clients
send Avro's order) was not found. It is now a hash of the JSON with sorted keys. Where two stored
schemas differ only in key order, the older id keeps the new fingerprint and the newer one gets a
value no schema hashes to: both stay readable by id, new registrations get the older id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_schemas = sa.table(
    "registry_schemas",
    sa.column("id", sa.Integer),
    sa.column("schema_type", sa.String),
    sa.column("schema", sa.Text),
    sa.column("fingerprint", sa.String),
    sa.column("references", sa.JSON),
)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _refs(references: Any) -> str:
    return json.dumps(list(references or []), sort_keys=True)


def _key_order_free(schema_type: str, text: str, references: Any) -> str:
    body = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _sha256(f"{schema_type}\n{body}\n{_refs(references)}")


def _as_registered(schema_type: str, text: str, references: Any) -> str:
    return _sha256(f"{schema_type}\n{text}\n{_refs(references)}")


def _rewrite(compute: Callable[[str, str, Any], str]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_schemas).order_by(_schemas.c.id)).all()
    wanted: dict[int, str] = {}
    claimed: set[str] = set()
    for row in rows:
        value = compute(row.schema_type, row.schema, row.references)
        if value in claimed:  # an older id holds this schema: no request finds this one
            value = _sha256(f"superseded\n{row.fingerprint}")
        claimed.add(value)
        if value != row.fingerprint:
            wanted[row.id] = value
    # Fingerprints are unique at every statement: move the changing rows out of the way first.
    for phase in ({i: f"migrating-{i}" for i in wanted}, wanted):
        for schema_id, value in phase.items():
            bind.execute(
                sa.update(_schemas).where(_schemas.c.id == schema_id).values(fingerprint=value)
            )


def upgrade() -> None:
    _rewrite(_key_order_free)


def downgrade() -> None:
    _rewrite(_as_registered)
