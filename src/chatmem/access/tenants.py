"""Tenants: named, isolated spaces of users and sessions (the ``default`` one always exists)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from chatmem.access import revision
from chatmem.base import clock
from chatmem.base.errors import BadRequestError, NotFoundError
from chatmem.store import Database
from chatmem.store.live import LIVE_SESSION, soft_delete
from chatmem.store.prepared import Prepared, ReadPlan, statement
from chatmem.store.tables import DEFAULT_TENANT, api_keys, sessions, tenants, users

# Tenant names appear in CLI arguments, JWT claims and URLs: keep them plain.
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: int
    name: str
    created_at: dt.datetime


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadRequestError(
            f"tenant name {name!r} must be 1-63 characters of a-z, 0-9, '_', '.', '-', starting with a "
            "letter or digit"
        )
    return name


_COLUMNS = (tenants.c.id, tenants.c.name, tenants.c.created_at)
_live = tenants.c.deleted_at.is_(None)


def ensure_tenant(conn: sa.Connection, name: str) -> TenantRecord:
    """The live tenant called ``name``, created (or revived, empty) if there is none."""
    check_name(name)
    found = conn.execute(sa.select(*_COLUMNS, tenants.c.deleted_at).where(tenants.c.name == name)).first()
    if found is None:
        row = conn.execute(
            sa.insert(tenants).values(name=name, created_at=clock.now()).returning(*_COLUMNS)
        ).one()
        return TenantRecord(*row)
    if found.deleted_at is not None:
        conn.execute(sa.update(tenants).where(tenants.c.id == found.id).values(deleted_at=None))
    return TenantRecord(found.id, found.name, found.created_at)


def create_tenant(db: Database, name: str) -> TenantRecord:
    with db.write() as conn:
        return ensure_tenant(conn, name)


def get_tenant(db: Database, name: str) -> TenantRecord:
    with db.read() as conn:
        row = conn.execute(sa.select(*_COLUMNS).where(tenants.c.name == name, _live)).first()
    if row is None:
        raise NotFoundError(f"tenant not found: {name}")
    return TenantRecord(*row)


def list_tenants(db: Database) -> list[TenantRecord]:
    with db.read() as conn:
        return [
            TenantRecord(*row)
            for row in conn.execute(sa.select(*_COLUMNS).where(_live).order_by(tenants.c.id))
        ]


def delete_tenant(db: Database, name: str) -> None:
    """Revoke every key of the tenant and hide it: its keys stop working in every server within a
    second, its users are removed and its sessions deleted (the purge removes them for good)."""
    if name == DEFAULT_TENANT:
        raise BadRequestError("the default tenant cannot be deleted")
    with db.write() as conn:
        found = conn.execute(sa.select(tenants.c.id).where(tenants.c.name == name, _live)).first()
        if found is None:
            raise NotFoundError(f"tenant not found: {name}")
        now = clock.now()
        conn.execute(sa.update(tenants).where(tenants.c.id == found.id).values(deleted_at=now))
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.tenant_id == found.id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        # Its data goes as a deleted user's does: sessions soft-deleted (the purge removes them and
        # everything in them), users removed. O(tenant's sessions), once.
        of_tenant = sessions.c.tenant_id == found.id
        conn.execute(sa.update(sessions).where(of_tenant, LIVE_SESSION).values(soft_delete(now)))
        conn.execute(sa.update(sessions).where(of_tenant).values(user_id=sa.null()))
        conn.execute(sa.delete(users).where(users.c.tenant_id == found.id))
        revision.bump(conn)


_live_by_name = Prepared(sa.select(*_COLUMNS).where(tenants.c.name == sa.bindparam("name"), _live))


def find_tenant_plan(name: str) -> ReadPlan[TenantRecord | None]:
    """The live tenant called ``name``, or None (the admin page's tenant switcher)."""
    rows = yield statement(_live_by_name, name=name)
    return TenantRecord(*rows[0]) if rows else None
