"""Tenants and API keys; users and sessions belong to a tenant.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``tenants`` starts with the ``default`` tenant (id 1): every existing user and session moves into it,
and with auth off every request acts in it. ``api_keys`` keeps a SHA-256 hash of each key, never the
key. ``auth_revision`` is one counter that every revocation bumps, so that each server process drops
its cache of resolved keys.

The tenant leads the unique keys of users and sessions (the same id in two tenants names two rows).
SQLite cannot drop a UNIQUE constraint in place, so there both tables are rebuilt (Alembic batch);
``chatmem.store.migrate`` turns foreign keys off around the migration, or dropping the old
``sessions`` table would cascade to every message.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from chatmem.store.tables import BigId, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tenants = op.create_table(
        "tenants",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("deleted_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
        sqlite_autoincrement=True,
    )
    op.bulk_insert(tenants, [{"id": 1, "name": "default", "created_at": dt.datetime.now(dt.UTC)}])
    if op.get_bind().dialect.name == "postgresql":
        # The default tenant's id was given explicitly; the identity sequence must not hand it out again.
        op.execute("SELECT setval(pg_get_serial_sequence('tenants', 'id'), 1)")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("last_used_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants"),
    )
    op.create_index("ix_api_keys_tenant_id_created_at", "api_keys", ["tenant_id", "created_at"])
    state = op.create_table(
        "auth_revision",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_auth_revision"),
    )
    op.bulk_insert(state, [{"id": 1, "revision": 0}])
    _tenant_columns()


def _tenant_columns() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_sessions_live_id", table_name="sessions")
    op.drop_index("ix_sessions_user_id_id", table_name="sessions")
    # The users' key changes under this foreign key: drop it first, re-create it on the new key.
    with op.batch_alter_table("sessions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("fk_sessions_user_id_users", type_="foreignkey")
    for table in ("users", "sessions"):
        high = _sqlite_sequence(table) if sqlite else None
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.add_column(sa.Column("tenant_id", sa.BigInteger, nullable=False, server_default="1"))
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.alter_column("tenant_id", server_default=None)
            batch.drop_constraint(f"uq_{table}_{table[:-1]}_id", type_="unique")
            batch.create_unique_constraint(
                f"uq_{table}_tenant_id_{table[:-1]}_id", ["tenant_id", f"{table[:-1]}_id"]
            )
            batch.create_foreign_key(f"fk_{table}_tenant_id_tenants", "tenants", ["tenant_id"], ["id"])
            if table == "sessions":
                batch.create_foreign_key(
                    "fk_sessions_tenant_id_users", "users", ["tenant_id", "user_id"], ["tenant_id", "user_id"]
                )
        if high is not None:
            # A rebuilt table restarts its AUTOINCREMENT at its highest row; ids must never be reused.
            op.execute(f"UPDATE sqlite_sequence SET seq = max(seq, {high}) WHERE name = '{table}'")
    op.create_index("ix_users_tenant_id_id", "users", ["tenant_id", "id"])
    op.create_index(
        "ix_sessions_live_tenant_id_id",
        "sessions",
        ["tenant_id", "id"],
        postgresql_where=sa.text("deleted_at IS NULL"),
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.create_index("ix_sessions_tenant_id_user_id_id", "sessions", ["tenant_id", "user_id", "id"])


def _sqlite_sequence(table: str) -> int | None:
    row = op.get_bind().exec_driver_sql(f"SELECT seq FROM sqlite_sequence WHERE name = '{table}'").first()
    return None if row is None else int(row[0])


def downgrade() -> None:
    # Ids that exist in several tenants cannot go back to one global key: refuse rather than lose rows.
    raise NotImplementedError("0006 cannot be downgraded once tenants exist; restore a backup instead")
