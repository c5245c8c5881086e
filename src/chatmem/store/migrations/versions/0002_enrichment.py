"""Background enrichment: the job queue, summaries, message and summary embeddings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from chatmem.store.tables import Json, UTCDateTime, Uuid

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["session_pk"], ["sessions.id"], name=f"fk_{table}_session_pk_sessions", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "enrich_jobs",
        sa.Column("session_pk", sa.BigInteger, nullable=False),
        sa.Column("id", Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("seq_lo", sa.BigInteger, nullable=False),
        sa.Column("seq_hi", sa.BigInteger, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="queued"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("run_at", UTCDateTime, nullable=False),
        sa.Column("claim_token", Uuid),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("session_pk", "id", name="pk_enrich_jobs"),
        _session_fk("enrich_jobs"),
    )
    op.create_index(
        "ix_enrich_jobs_due",
        "enrich_jobs",
        ["run_at"],
        postgresql_where=sa.text("state <> 'dead'"),
        sqlite_where=sa.text("state <> 'dead'"),
    )
    op.create_table(
        "summaries",
        sa.Column("session_pk", sa.BigInteger, nullable=False),
        sa.Column("point_seq", sa.BigInteger, nullable=False),
        sa.Column("uuid", Uuid, nullable=False),
        sa.Column("recent_message_uuid", Uuid, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("metadata", Json),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("session_pk", "point_seq", name="pk_summaries"),
        sa.UniqueConstraint("session_pk", "uuid", name="uq_summaries_session_pk_uuid"),
        _session_fk("summaries"),
    )
    for table, key in (("message_embeddings", "seq"), ("summary_embeddings", "point_seq")):
        op.create_table(
            table,
            sa.Column("session_pk", sa.BigInteger, nullable=False),
            sa.Column(key, sa.BigInteger, nullable=False),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("dimensions", sa.Integer, nullable=False),
            sa.Column("vector", sa.LargeBinary, nullable=False),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.PrimaryKeyConstraint("session_pk", key, name=f"pk_{table}"),
            _session_fk(table),
        )


def downgrade() -> None:
    op.drop_table("summary_embeddings")
    op.drop_table("message_embeddings")
    op.drop_table("summaries")
    op.drop_index("ix_enrich_jobs_due", table_name="enrich_jobs")
    op.drop_table("enrich_jobs")
