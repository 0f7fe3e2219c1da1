"""auth version: a counter bumped by triggers on every change to agencies, clients, revocations

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 17:00:00

Each process keeps identities and revocations in memory and polls this one row to know when to
reload them. Triggers, not application code, bump it, so a change made by any path (the admin API,
``ndxp clients``, a replica of another version, an operator's SQL) is seen by every replica.
On PostgreSQL the trigger function also sends ``NOTIFY ndxp_auth`` for listeners.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("agencies", "clients", "revoked_tokens")
EVENTS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE auth_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    table = op.create_table(
        "auth_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_version")),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION ndxp_bump_auth_version() RETURNS trigger AS $$
            BEGIN
                {BUMP};
                PERFORM pg_notify('ndxp_auth', '');
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for name in TABLES:
            op.execute(
                f"CREATE TRIGGER {name}_auth_version AFTER INSERT OR UPDATE OR DELETE ON {name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ndxp_bump_auth_version()"
            )
        return
    for name in TABLES:
        for event in EVENTS:
            trigger = f"{name}_{event.lower()}_auth_version AFTER {event} ON {name}"
            op.execute(f"CREATE TRIGGER {trigger} BEGIN {BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in TABLES:
            op.execute(f"DROP TRIGGER {name}_auth_version ON {name}")
        op.execute("DROP FUNCTION ndxp_bump_auth_version()")
    else:
        for name in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER {name}_{event.lower()}_auth_version")
    op.drop_table("auth_version")
