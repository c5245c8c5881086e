"""Tenants and API keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

``tenants`` starts with the ``default`` tenant (id 1): with auth off every request acts in it.
``api_keys`` keeps a SHA-256 hash of each key, never the key. ``auth_revision`` is one counter that
every revocation bumps, so that each server process drops its cache of resolved keys.
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


def downgrade() -> None:
    op.drop_table("auth_revision")
    op.drop_index("ix_api_keys_tenant_id_created_at", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
