"""gateway identity and catalogue: clients, signing keys, revoked tokens, datasets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.Column[datetime]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agency_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("scopes", sa.String(500), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        _now(),
        sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_clients_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_agency_id"), "clients", ["agency_id"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        _now(),
        sa.Column("active_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "revoked_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_client_id"), "revoked_tokens", ["client_id"])
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"])
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(65), nullable=False),
        sa.Column("agency_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("theme", sa.String(64), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("access_rights", sa.String(16), nullable=False),
        sa.Column("licence", sa.String(200), nullable=True),
        sa.Column("contact_point", sa.JSON(), nullable=False),
        sa.Column("update_frequency", sa.String(32), nullable=True),
        sa.Column("retention_ms", sa.BigInteger(), nullable=False),
        sa.Column("partitions", sa.Integer(), nullable=False),
        sa.Column("major_version", sa.Integer(), nullable=False),
        sa.Column("compatibility", sa.String(32), nullable=False),
        _now(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "access_rights IN ('PUBLIC', 'RESTRICTED', 'NON_PUBLIC')",
            name=op.f("ck_datasets_access_rights"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_datasets_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("agency_id", "name", name=op.f("uq_datasets_agency_id")),
    )
    op.create_index(op.f("ix_datasets_agency_id"), "datasets", ["agency_id"])
    op.create_index(op.f("ix_datasets_theme"), "datasets", ["theme"])


def downgrade() -> None:
    for index, table in (
        ("ix_datasets_theme", "datasets"),
        ("ix_datasets_agency_id", "datasets"),
    ):
        op.drop_index(op.f(index), table_name=table)
    op.drop_table("datasets")
    op.drop_index(op.f("ix_revoked_tokens_expires_at"), table_name="revoked_tokens")
    op.drop_index(op.f("ix_revoked_tokens_client_id"), table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_table("signing_keys")
    op.drop_index(op.f("ix_clients_agency_id"), table_name="clients")
    op.drop_table("clients")
