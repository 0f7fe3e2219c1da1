"""schema registry: schemas, subject versions, references, settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_schemas",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("schema_type", sa.String(16), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_schemas")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_registry_schemas_fingerprint")),
    )
    op.create_table(
        "registry_subject_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("schema_id", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["registry_schemas.id"],
            name=op.f("fk_registry_subject_versions_schema_id_registry_schemas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_subject_versions")),
        sa.UniqueConstraint(
            "subject", "version", name=op.f("uq_registry_subject_versions_subject")
        ),
    )
    op.create_index(
        op.f("ix_registry_subject_versions_subject"), "registry_subject_versions", ["subject"]
    )
    op.create_index(
        op.f("ix_registry_subject_versions_schema_id"), "registry_subject_versions", ["schema_id"]
    )
    op.create_table(
        "registry_references",
        sa.Column("schema_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schema_id"],
            ["registry_schemas.id"],
            name=op.f("fk_registry_references_schema_id_registry_schemas"),
        ),
        sa.PrimaryKeyConstraint("schema_id", "name", name=op.f("pk_registry_references")),
    )
    op.create_index(op.f("ix_registry_references_subject"), "registry_references", ["subject"])
    op.create_table(
        "registry_settings",
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("compatibility", sa.String(32), nullable=True),
        sa.Column("mode", sa.String(32), nullable=True),
        sa.Column("lint", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_registry_settings")),
    )


def downgrade() -> None:
    op.drop_table("registry_settings")
    op.drop_index(op.f("ix_registry_references_subject"), table_name="registry_references")
    op.drop_table("registry_references")
    op.drop_index(
        op.f("ix_registry_subject_versions_schema_id"), table_name="registry_subject_versions"
    )
    op.drop_index(
        op.f("ix_registry_subject_versions_subject"), table_name="registry_subject_versions"
    )
    op.drop_table("registry_subject_versions")
    op.drop_table("registry_schemas")
