"""Every row below a session carries its tenant: messages, summaries, embeddings, pgvector copies, jobs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

``tenant_id`` is backfilled from the owning session and leads each table's primary and unique keys:
``(tenant_id, session_pk, seq)`` and so on, the keys a PostgreSQL deployment distributed by tenant
(Citus) needs (docs/security.md). Each table's foreign key becomes ``(tenant_id, session_pk) ->
sessions (tenant_id, id)`` on a new unique index of ``sessions``, so a row can never name another
tenant than its session's.

The full-text rows need nothing of their own: on PostgreSQL they are the ``search_tsv`` column of
``messages`` and ``summaries``; on SQLite an FTS5 row's rowid is ``session_pk << 32 | seq``, the row of
exactly one session.

PostgreSQL alters the tables in place. SQLite cannot change a primary key, so there each table is
rebuilt (``chatmem.store.migrate`` turns foreign keys off around the migration and checks them after);
dropping ``messages`` and ``summaries`` drops their full-text triggers, which are created again.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from chatmem.store.tables import Json, UTCDateTime, Uuid

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# table -> its key columns after the session (the primary key is tenant_id, session_pk, *these)
_KEYS = {
    "messages": ("seq",),
    "enrich_jobs": ("id",),
    "summaries": ("point_seq",),
    "message_embeddings": ("seq",),
    "summary_embeddings": ("point_seq",),
}
_UUID_KEYED = ("messages", "summaries")
# pgvector copies of the embeddings (PostgreSQL with the extension only): (table, key, embeddings)
_VECTORS = (
    ("message_vectors", "seq", "message_embeddings"),
    ("summary_vectors", "point_seq", "summary_embeddings"),
)


def _columns(table: str) -> list[sa.Column[Any]]:
    """The columns of ``table`` as 0001/0002 made them, ``tenant_id`` first."""
    tenant = [sa.Column("tenant_id", sa.BigInteger, nullable=False)]
    session = sa.Column("session_pk", sa.BigInteger, nullable=False)
    if table == "messages":
        return [
            *tenant,
            session,
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("uuid", Uuid, nullable=False),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("content", sa.Text, nullable=False),
            sa.Column("metadata", Json),
            sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        ]
    if table == "enrich_jobs":
        return [
            *tenant,
            session,
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
        ]
    if table == "summaries":
        return [
            *tenant,
            session,
            sa.Column("point_seq", sa.BigInteger, nullable=False),
            sa.Column("uuid", Uuid, nullable=False),
            sa.Column("recent_message_uuid", Uuid, nullable=False),
            sa.Column("content", sa.Text, nullable=False),
            sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
            sa.Column("metadata", Json),
            sa.Column("created_at", UTCDateTime, nullable=False),
        ]
    key = _KEYS[table][0]
    return [
        *tenant,
        session,
        sa.Column(key, sa.BigInteger, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    ]


def _session_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "session_pk"],
        ["sessions.tenant_id", "sessions.id"],
        name=f"fk_{table}_tenant_id_sessions",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_index("uq_sessions_tenant_id_id", "sessions", ["tenant_id", "id"], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        for table in _KEYS:
            _sqlite_rebuild(table)
        _sqlite_full_text_triggers()
    else:
        for table in _KEYS:
            _postgres_alter(table)
        _pgvector_alter()


def _sqlite_rebuild(table: str) -> None:
    new = f"{table}_0007"
    keys = ["tenant_id", "session_pk", *_KEYS[table]]
    constraints: list[sa.Constraint] = [
        sa.PrimaryKeyConstraint(*keys, name=f"pk_{table}"),
        _session_fk(table),
    ]
    if table in _UUID_KEYED:
        constraints.append(
            sa.UniqueConstraint(
                "tenant_id", "session_pk", "uuid", name=f"uq_{table}_tenant_id_session_pk_uuid"
            )
        )
    columns = _columns(table)
    op.create_table(new, *columns, *constraints, sqlite_with_rowid=table != "messages")
    names = ", ".join(c.name for c in columns[1:])
    old = ", ".join(f"t.{c.name}" for c in columns[1:])
    op.execute(
        f"INSERT INTO {new} (tenant_id, {names}) "
        f"SELECT s.tenant_id, {old} FROM {table} AS t JOIN sessions AS s ON s.id = t.session_pk"
    )
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {new} RENAME TO {table}")
    if table == "enrich_jobs":
        op.create_index(
            "ix_enrich_jobs_due",
            "enrich_jobs",
            ["run_at"],
            sqlite_where=sa.text("state <> 'dead'"),
        )


def _sqlite_full_text_triggers() -> None:
    """The triggers of migration 0003, gone with the tables they were on (the FTS5 tables keep their rows,
    whose rowids did not change)."""
    for table, key in (("messages", "seq"), ("summaries", "point_seq")):
        fts = f"{table}_fts"
        new_rowid = f"((NEW.session_pk << 32) + NEW.{key})"
        old_rowid = f"((OLD.session_pk << 32) + OLD.{key})"
        op.execute(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts} (rowid, content) VALUES ({new_rowid}, NEW.content); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM {fts} WHERE rowid = {old_rowid}; END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF content ON {table} BEGIN "
            f"UPDATE {fts} SET content = NEW.content WHERE rowid = {old_rowid}; END"
        )


def _postgres_alter(table: str) -> None:
    keys = ", ".join(["tenant_id", "session_pk", *_KEYS[table]])
    _backfill(table)
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, ADD CONSTRAINT pk_{table} PRIMARY KEY ({keys})"
    )
    if table in _UUID_KEYED:
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT uq_{table}_session_pk_uuid, "
            f"ADD CONSTRAINT uq_{table}_tenant_id_session_pk_uuid UNIQUE (tenant_id, session_pk, uuid)"
        )
    _postgres_fk(table)


def _backfill(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ADD COLUMN tenant_id bigint")
    op.execute(
        f"UPDATE {table} AS t SET tenant_id = s.tenant_id FROM sessions AS s WHERE s.id = t.session_pk"
    )
    op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant_id SET NOT NULL")


def _postgres_fk(table: str) -> None:
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_session_pk_sessions, "
        f"ADD CONSTRAINT fk_{table}_tenant_id_sessions FOREIGN KEY (tenant_id, session_pk) "
        "REFERENCES sessions (tenant_id, id) ON DELETE CASCADE"
    )


# The trigger function of migration 0003, now copying the tenant too.
_SYNC_FUNCTION = """
CREATE OR REPLACE FUNCTION chatmem_{vectors}_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM {vectors}
      WHERE tenant_id = OLD.tenant_id AND session_pk = OLD.session_pk AND {key} = OLD.{key};
    RETURN OLD;
  END IF;
  INSERT INTO {vectors} (tenant_id, session_pk, {key}, model, dims, embedding)
  VALUES (NEW.tenant_id, NEW.session_pk, NEW.{key}, NEW.model, NEW.dimensions,
          chatmem_f32le_vector(NEW.vector))
  ON CONFLICT (tenant_id, session_pk, {key}) DO UPDATE
    SET model = EXCLUDED.model, dims = EXCLUDED.dims, embedding = EXCLUDED.embedding;
  RETURN NEW;
END
$$
"""


def _pgvector_alter() -> None:
    bind = op.get_bind()
    for vectors, key, _embeddings in _VECTORS:
        if bind.exec_driver_sql(f"SELECT to_regclass('{vectors}')").scalar() is None:
            continue  # no pgvector on this server: search is exact, there is no copy
        _backfill(vectors)
        op.execute(
            f"ALTER TABLE {vectors} DROP CONSTRAINT pk_{vectors}, "
            f"ADD CONSTRAINT pk_{vectors} PRIMARY KEY (tenant_id, session_pk, {key})"
        )
        _postgres_fk(vectors)
        op.execute(_SYNC_FUNCTION.format(vectors=vectors, key=key))


def downgrade() -> None:
    raise NotImplementedError("0007 cannot be downgraded (0006 cannot either); restore a backup instead")
