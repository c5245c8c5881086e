"""The schema, as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

Every row belongs to a tenant, which leads the unique keys and hot indexes. Users and sessions carry it
beside their ids; the rows below a session (messages, summaries, embeddings, jobs) carry it beside the
session's surrogate key (``session_pk``, unique across tenants), and their foreign key
``(tenant_id, session_pk) -> sessions (tenant_id, id)`` makes it their session's. docs/security.md has
the Citus plan.

Soft delete of a session is O(1): the session row gets ``deleted_at`` and ``floor_seq = last_seq``.
Messages are numbered per session (``seq``); a message is live only while ``seq > floor_seq`` of a live
session, so a revived session starts empty while its old messages stay deleted until the purge
removes them (and records that in ``purged_seq``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata_obj = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores them as naive ISO text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: sa.Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # The text SQLAlchemy's SQLite DateTime writes ("2026-12-01 03:25:00.123456"), built in one call
        # instead of its %-format of seven fields. The rows of one write share one timestamp object
        # (an append stamps its session, messages and job with it), so the last one is remembered.
        last: tuple[object, str | None] = (None, None)

        def process(value: dt.datetime | None) -> str | None:
            nonlocal last
            if value is None:
                return None
            seen, text = last
            if seen is value:
                return text
            text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            last = (value, text)
            return text

        return process

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            # SQLite hands back the ISO text we stored; fromisoformat is far cheaper than the
            # regular-expression parser of SQLAlchemy's SQLite DateTime (it runs for every value read).
            def parse(value: str | None) -> dt.datetime | None:
                return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)

            return parse
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (and so auto-incrementing).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Python None must be stored as SQL NULL, not as the JSON text 'null'.
Json: sa.types.TypeEngine[Any] = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)
Uuid = sa.Uuid(as_uuid=True)

users = sa.Table(
    "users",
    metadata_obj,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # Every row belongs to one tenant, which leads every unique key and hot index (docs/security.md).
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("uuid", Uuid, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("metadata", Json),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "user_id"),
    sa.Index("ix_users_tenant_id_id", "tenant_id", "id"),
    # Never reuse an id: ids order rows by creation and back the keyset cursors.
    sqlite_autoincrement=True,
)

sessions = sa.Table(
    "sessions",
    metadata_obj,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("session_id", sa.Text, nullable=False),
    sa.Column("uuid", Uuid, nullable=False),
    # Deleting a user sets this to NULL itself (memory/users.py): a composite key cannot SET NULL one
    # of its columns on PostgreSQL < 15 or SQLite.
    sa.Column("user_id", sa.Text),
    sa.Column("metadata", Json),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
    # Highest message seq handed out; messages with seq <= floor_seq are deleted; the purge has
    # physically removed those with seq <= purged_seq. message_count counts the live messages.
    sa.Column("last_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("floor_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("purged_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("message_count", sa.BigInteger, nullable=False, server_default="0"),
    # Bumped in every transaction that writes this session's embeddings: exact search keeps the
    # session's vectors in memory (search/vector_cache.py) and reloads them when this changes.
    sa.Column("vectors_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.UniqueConstraint("tenant_id", "session_id"),
    sa.ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.user_id"]),
    sa.Index(
        "ix_sessions_live_tenant_id_id",
        "tenant_id",
        "id",
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    ),
    sa.Index("ix_sessions_tenant_id_user_id_id", "tenant_id", "user_id", "id"),
    # The sessions the purge has work in (migration 0008): soft-deleted ones (by id for the purge, by
    # tenant for the admin page's list of them), and revived ones whose deleted messages are still stored.
    sa.Index(
        "ix_sessions_deleted_id",
        "id",
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_sessions_deleted_tenant_id_id",
        "tenant_id",
        "id",
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_sessions_below_floor_id",
        "id",
        postgresql_where=sa.text("floor_seq > purged_seq"),
        sqlite_where=sa.text("floor_seq > purged_seq"),
    ),
    # The key the rows below a session point at (their tenant and session_pk): a child row cannot carry
    # another tenant than its session's (migration 0007).
    sa.Index("uq_sessions_tenant_id_id", "tenant_id", "id", unique=True),
    sqlite_autoincrement=True,
)

messages = sa.Table(
    "messages",
    metadata_obj,
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("session_pk", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("uuid", Uuid, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("metadata", Json),
    sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "session_pk", "seq"),
    sa.UniqueConstraint("tenant_id", "session_pk", "uuid"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "session_pk"], ["sessions.tenant_id", "sessions.id"], ondelete="CASCADE"
    ),
    # Clustered by (session, seq) on SQLite: the last N messages of a session sit on adjacent pages.
    sqlite_with_rowid=False,
)

# --- Background enrichment (issue 4): the job queue, summaries and embeddings. -----------------------
# Rows of a deleted session history follow the same O(1) rule as messages: live only while their
# session is live and their seq (summary point for summaries) is above the session's floor_seq.

enrich_jobs = sa.Table(
    "enrich_jobs",
    metadata_obj,
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("session_pk", sa.BigInteger, nullable=False),
    sa.Column("id", Uuid, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    # The messages (or the summary point) the job is about.
    sa.Column("seq_lo", sa.BigInteger, nullable=False),
    sa.Column("seq_hi", sa.BigInteger, nullable=False),
    # queued | running | dead. A running job whose run_at (its lease) has passed is claimable again,
    # which is how a job held by a killed worker comes back.
    sa.Column("state", sa.Text, nullable=False, server_default="queued"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("run_at", UTCDateTime, nullable=False),
    sa.Column("claim_token", Uuid),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "session_pk", "id"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "session_pk"], ["sessions.tenant_id", "sessions.id"], ondelete="CASCADE"
    ),
    # The one index that cannot lead with the session: claiming is "the oldest due job of any session".
    sa.Index(
        "ix_enrich_jobs_due",
        "run_at",
        postgresql_where=sa.text("state <> 'dead'"),
        sqlite_where=sa.text("state <> 'dead'"),
    ),
)

summaries = sa.Table(
    "summaries",
    metadata_obj,
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("session_pk", sa.BigInteger, nullable=False),
    # seq of the newest message folded into this summary (Zep's "summary point").
    sa.Column("point_seq", sa.BigInteger, nullable=False),
    sa.Column("uuid", Uuid, nullable=False),
    sa.Column("recent_message_uuid", Uuid, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("token_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("metadata", Json),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "session_pk", "point_seq"),
    sa.UniqueConstraint("tenant_id", "session_pk", "uuid"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "session_pk"], ["sessions.tenant_id", "sessions.id"], ondelete="CASCADE"
    ),
)

message_embeddings = sa.Table(
    "message_embeddings",
    metadata_obj,
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("session_pk", sa.BigInteger, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("dimensions", sa.Integer, nullable=False),
    # Little-endian float32, `dimensions` of them: compact, and the same on both databases.
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "session_pk", "seq"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "session_pk"], ["sessions.tenant_id", "sessions.id"], ondelete="CASCADE"
    ),
)

summary_embeddings = sa.Table(
    "summary_embeddings",
    metadata_obj,
    sa.Column("tenant_id", sa.BigInteger, nullable=False),
    sa.Column("session_pk", sa.BigInteger, nullable=False),
    sa.Column("point_seq", sa.BigInteger, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("dimensions", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "session_pk", "point_seq"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "session_pk"], ["sessions.tenant_id", "sessions.id"], ondelete="CASCADE"
    ),
)

# --- Search (issue 5): nothing portable. Migrations 0003 and 0005 add dialect-specific objects only: FTS5
# tables and triggers on SQLite; stored tsvector columns with GIN indexes, pgvector tables, functions and
# triggers on PostgreSQL. They cannot be SQLAlchemy tables or columns (FTS5 virtual tables, columns that
# exist on one database only), so the schema compare (migrations/env.py, tests/test_schema.py) leaves
# them out by name.

SEARCH_TABLE_PREFIXES = ("messages_fts", "summaries_fts", "message_vectors", "summary_vectors")
SEARCH_INDEX_PREFIXES = ("ix_messages_fts", "ix_summaries_fts", "ix_message_vectors_", "ix_summary_vectors_")
SEARCH_COLUMNS = frozenset({"search_tsv"})


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic ``include_name``: False for the search objects of migrations 0003 and 0005 (see above)."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(SEARCH_TABLE_PREFIXES)
    if type_ == "index":
        return not name.startswith(SEARCH_INDEX_PREFIXES)
    if type_ == "column":
        return name not in SEARCH_COLUMNS
    return True


# --- Access (issue 11): tenants, API keys, and the revision that tells servers to drop cached keys. -----

tenants = sa.Table(
    "tenants",
    metadata_obj,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # A deleted tenant's keys stop working at once; creating the name again revives it, empty.
    sa.Column("deleted_at", UTCDateTime),
    sa.UniqueConstraint("name"),
    sqlite_autoincrement=True,
)
# Migration 0006 creates this row; with auth off every request acts in it.
DEFAULT_TENANT_ID = 1
DEFAULT_TENANT = "default"

api_keys = sa.Table(
    "api_keys",
    metadata_obj,
    # The public half of a key (``cmk_<id>_<secret>``): found before the tenant is known, so it leads.
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.BigInteger, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("role", sa.Text, nullable=False),
    # SHA-256 of the whole key; the key itself is never stored.
    sa.Column("secret_hash", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    # Written in batches by the servers (server/auth.py), not on every request.
    sa.Column("last_used_at", UTCDateTime),
    sa.Index("ix_api_keys_tenant_id_created_at", "tenant_id", "created_at"),
)

# One row. Every change that must reach the servers' key caches (a revoked key, a deleted tenant)
# bumps ``revision`` in its own transaction; each server polls it and drops its cache when it moved.
auth_revision = sa.Table(
    "auth_revision",
    metadata_obj,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
)
