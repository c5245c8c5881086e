"""Partial indexes on the sessions the purge has work in: the soft-deleted ones, and the revived ones
whose deleted messages are not yet removed; and on each tenant's deleted sessions, for the admin page.

Without them every purge (hourly by default) found its sessions by scanning all of them, twice, inside
write transactions: on SQLite holding the one write lock while appends waited, about 150 ms at a million
sessions (docs/benchmarks.md, "Purge"). With them it reads only the rows it will remove. The admin
page's list of a tenant's deleted sessions walked the tenant's sessions newest first until it had found a
page of deleted ones: all of them, for a tenant with almost none deleted. Each index holds only the
sessions that await the purge, so it stays small.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name, columns in (
        ("ix_sessions_deleted_id", ["id"]),
        ("ix_sessions_deleted_tenant_id_id", ["tenant_id", "id"]),
    ):
        op.create_index(
            name,
            "sessions",
            columns,
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
        )
    op.create_index(
        "ix_sessions_below_floor_id",
        "sessions",
        ["id"],
        postgresql_where=sa.text("floor_seq > purged_seq"),
        sqlite_where=sa.text("floor_seq > purged_seq"),
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_below_floor_id", table_name="sessions")
    op.drop_index("ix_sessions_deleted_tenant_id_id", table_name="sessions")
    op.drop_index("ix_sessions_deleted_id", table_name="sessions")
