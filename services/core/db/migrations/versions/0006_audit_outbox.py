"""audit outbox: records in the chain that the audit topic has not acknowledged yet

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    op.create_table(
        "audit_outbox",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["audit_records.seq"], name=op.f("fk_audit_outbox_seq_audit_records")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_outbox")),
    )
    relay = op.create_table(
        "audit_relay",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_audit_relay")),
    )
    # The one lease row, free from the start; relays only ever UPDATE it, so taking the lease is
    # one conditional write on every database.
    op.bulk_insert(relay, [{"name": "audit", "holder": "", "until": EPOCH}])


def downgrade() -> None:
    op.drop_table("audit_relay")
    op.drop_table("audit_outbox")
