"""API keys: ``cmk_<id>_<secret>``, 256 random bits of secret, stored only as a SHA-256 hash.

A slow password hash (bcrypt, scrypt) protects guessable secrets; a 256-bit random one cannot be
guessed, so one SHA-256 is enough, and cheap enough to check on a cache miss without a thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from chatmem.access import revision
from chatmem.access.roles import Principal, Role
from chatmem.access.tenants import ensure_tenant
from chatmem.base import clock
from chatmem.base.errors import BadRequestError, NotFoundError
from chatmem.store import Database
from chatmem.store.prepared import Prepared, ReadPlan, WritePlan, statement, statement_many
from chatmem.store.tables import UTCDateTime, api_keys, tenants

PREFIX = "cmk_"
_ID_BYTES = 6  # 12 hex characters: the public key id
_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    tenant: str
    role: str
    name: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NewKey:
    record: KeyRecord
    key: str  # shown once, never stored


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def key_id_of(key: str) -> str | None:
    """The id part of something shaped like a chatmem key, else None."""
    if not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != 2 * _ID_BYTES or not secret:
        return None
    return key_id


_COLUMNS = (
    api_keys.c.id,
    tenants.c.name,
    api_keys.c.role,
    api_keys.c.name,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
)
_with_tenant = api_keys.join(tenants, api_keys.c.tenant_id == tenants.c.id)


def create_key(db: Database, tenant: str, role: Role, name: str | None = None) -> NewKey:
    """A new key of ``role`` in ``tenant`` (created if it does not exist yet)."""
    if name is not None and (not name.strip() or len(name) > 200):
        raise BadRequestError("key name must be 1-200 characters")
    key_id = secrets.token_hex(_ID_BYTES)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    with db.write() as conn:
        found = ensure_tenant(conn, tenant)
        created = clock.now()
        conn.execute(
            sa.insert(api_keys).values(
                id=key_id,
                tenant_id=found.id,
                name=name,
                role=role.label,
                secret_hash=digest(key),
                created_at=created,
            )
        )
    return NewKey(KeyRecord(key_id, found.name, role.label, name, created, None, None), key)


def list_keys(db: Database, tenant: str | None = None) -> list[KeyRecord]:
    """Every key (of one tenant), oldest first, revoked ones included."""
    query = sa.select(*_COLUMNS).select_from(_with_tenant).order_by(api_keys.c.created_at, api_keys.c.id)
    if tenant is not None:
        query = query.where(tenants.c.name == tenant)
    with db.read() as conn:
        return [KeyRecord(*row) for row in conn.execute(query)]


def revoke_key(db: Database, key_id: str, *, tenant: str | None = None) -> KeyRecord:
    """Revoke a key (of ``tenant``, when given: another tenant's key is not found). Idempotent."""
    condition = api_keys.c.id == key_id
    if tenant is not None:
        condition = condition & api_keys.c.tenant_id.in_(
            sa.select(tenants.c.id).where(tenants.c.name == tenant)
        )
    with db.write() as conn:
        updated = conn.execute(
            sa.update(api_keys)
            .where(condition, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        ).rowcount
        if updated:
            revision.bump(conn)
        row = conn.execute(sa.select(*_COLUMNS).select_from(_with_tenant).where(condition)).first()
    if row is None:
        raise NotFoundError(f"key not found: {key_id}")
    return KeyRecord(*row)


_lookup = Prepared(
    sa.select(api_keys.c.secret_hash, api_keys.c.role, tenants.c.id, tenants.c.name)
    .select_from(_with_tenant)
    .where(
        api_keys.c.id == sa.bindparam("key_id"),
        api_keys.c.revoked_at.is_(None),
        tenants.c.deleted_at.is_(None),
    )
)


def resolve_plan(key: str) -> ReadPlan[Principal | None]:
    """The principal of a live key of a live tenant; None for anything else."""
    key_id = key_id_of(key)
    if key_id is None:
        return None
    rows = yield statement(_lookup, key_id=key_id)
    if not rows:
        return None
    stored, role, tenant_id, tenant = rows[0]
    # Constant time: how much of a guessed key matched must not show in the answer's timing.
    if not hmac.compare_digest(bytes(stored), digest(key)):
        return None
    return Principal(tenant_id, tenant, Role.parse(role), key_id)


_touch = Prepared(
    sa.update(api_keys)
    .where(api_keys.c.id == sa.bindparam("key_id"))
    .values(last_used_at=sa.bindparam("used_at", type_=UTCDateTime))
)


def record_use_plan(used: dict[str, dt.datetime]) -> WritePlan[None]:
    """Set ``last_used_at`` of many keys in one transaction (the servers batch these)."""
    yield statement_many(_touch, [{"key_id": key_id, "used_at": at} for key_id, at in used.items()])


_by_id = Prepared(
    sa.select(api_keys.c.role, tenants.c.id, tenants.c.name)
    .select_from(_with_tenant)
    .where(
        api_keys.c.id == sa.bindparam("key_id"),
        api_keys.c.revoked_at.is_(None),
        tenants.c.deleted_at.is_(None),
    )
)


def principal_of_key_plan(key_id: str) -> ReadPlan[Principal | None]:
    """The principal of a live key of a live tenant by its public id (the admin page's signed session
    holds the id, never the key): None once the key is revoked or its tenant deleted."""
    rows = yield statement(_by_id, key_id=key_id)
    if not rows:
        return None
    role, tenant_id, tenant = rows[0]
    return Principal(tenant_id, tenant, Role.parse(role), key_id)
