"""registry: a schema's metadata and ruleSet (Confluent's data contracts)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: a schema registered before this revision has neither, and its fingerprint (which
    # covers them only when present) stays what it was.
    with op.batch_alter_table("registry_schemas") as batch:
        batch.add_column(sa.Column("metadata", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("rule_set", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registry_schemas") as batch:
        batch.drop_column("rule_set")
        batch.drop_column("metadata")
