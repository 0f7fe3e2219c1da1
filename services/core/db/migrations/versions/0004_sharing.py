"""sharing: agreements, subscriptions, idempotency keys, audit records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def _created() -> sa.Column[object]:
    return sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False)


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{columns[0]}"), table, list(columns))


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dataset_id", sa.String(65), nullable=False),
        sa.Column("provider_agency", sa.String(32), nullable=False),
        sa.Column("consumer_agency", sa.String(32), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("requested_fields", sa.JSON(), nullable=True),
        sa.Column("granted_fields", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("valid_until", _TS, nullable=False),
        sa.Column("reader_subject", sa.String(255), nullable=True),
        sa.Column("reader_schema_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _created(),
        sa.Column("decided_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.CheckConstraint(
            "state IN ('requested', 'active', 'rejected', 'revoked', 'expired')",
            name=op.f("ck_agreements_state"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_agreements_dataset_id_datasets")
        ),
        sa.ForeignKeyConstraint(
            ["provider_agency"],
            ["agencies.id"],
            name=op.f("fk_agreements_provider_agency_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["consumer_agency"],
            ["agencies.id"],
            name=op.f("fk_agreements_consumer_agency_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
    )
    for column in ("dataset_id", "provider_agency", "consumer_agency", "state"):
        _index("agreements", column)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("agreement_id", sa.String(36), nullable=False),
        sa.Column("consumer_agency", sa.String(32), nullable=False),
        sa.Column("dataset_id", sa.String(65), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(200), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_subscriptions_agreement_id_agreements"),
        ),
        sa.ForeignKeyConstraint(
            ["consumer_agency"],
            ["agencies.id"],
            name=op.f("fk_subscriptions_consumer_agency_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_subscriptions_dataset_id_datasets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "consumer_agency", "name", name=op.f("uq_subscriptions_consumer_agency")
        ),
        sa.UniqueConstraint("group_id", name=op.f("uq_subscriptions_group_id")),
    )
    for column in ("agreement_id", "consumer_agency", "dataset_id"):
        _index("subscriptions", column)
    op.create_table(
        "idempotency_keys",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("dataset_id", sa.String(65), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("client_id", "dataset_id", "key", name=op.f("pk_idempotency_keys")),
    )
    _index("idempotency_keys", "created_at")
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("time", _TS, nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("actor_agency", sa.String(32), nullable=True),
        sa.Column("actor_client", sa.String(64), nullable=True),
        sa.Column("provider_agency", sa.String(32), nullable=True),
        sa.Column("consumer_agency", sa.String(32), nullable=True),
        sa.Column("dataset_id", sa.String(65), nullable=True),
        sa.Column("agreement_id", sa.String(36), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("offsets", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_records")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_records_id")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_records_hash")),
    )
    for column in (
        "time",
        "action",
        "actor_agency",
        "provider_agency",
        "consumer_agency",
        "dataset_id",
        "agreement_id",
    ):
        _index("audit_records", column)


def downgrade() -> None:
    for table in ("audit_records", "idempotency_keys", "subscriptions", "agreements"):
        op.drop_table(table)
