"""Users, sessions and messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatmem.store.tables import BigId, Json, UTCDateTime, Uuid

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("uuid", Uuid, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("metadata", Json),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("user_id", name="uq_users_user_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sessions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("uuid", Uuid, nullable=False),
        sa.Column("user_id", sa.Text),
        sa.Column("metadata", Json),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime),
        sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("floor_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("purged_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("message_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("session_id", name="uq_sessions_session_id"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_sessions_user_id_users", ondelete="SET NULL"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_sessions_live_id",
        "sessions",
        ["id"],
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_sessions_user_id_id", "sessions", ["user_id", "id"])
    op.create_table(
        "messages",
        sa.Column("session_pk", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("uuid", Uuid, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("metadata", Json),
        sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("session_pk", "seq", name="pk_messages"),
        sa.UniqueConstraint("session_pk", "uuid", name="uq_messages_session_pk_uuid"),
        sa.ForeignKeyConstraint(
            ["session_pk"], ["sessions.id"], name="fk_messages_session_pk_sessions", ondelete="CASCADE"
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_index("ix_sessions_user_id_id", table_name="sessions")
    op.drop_index("ix_sessions_live_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("users")
