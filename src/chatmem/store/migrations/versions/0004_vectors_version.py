"""sessions.vectors_version: lets each server process keep a session's vectors in memory for search.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (no table rebuild: SQLite's triggers and FTS tables stay).
    op.add_column("sessions", sa.Column("vectors_version", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("sessions", "vectors_version")
