"""push subscriptions: the endpoint a subscription's records are pushed to

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: existing subscriptions are pull subscriptions. Batch mode so that
    # SQLite, which cannot ALTER most things, gets the same migration as PostgreSQL.
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("push_url", sa.String(2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("push_url")
