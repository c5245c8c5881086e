"""Users: one user owns many sessions; deleting a user soft-deletes its sessions."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.base.errors import AlreadyExistsError, NotFoundError
from chatmem.base.json import JsonObject
from chatmem.memory.metadata import checked_patch, merge_patch
from chatmem.memory.paging import PageRequest, creation_ordered, page_plan
from chatmem.memory.records import Page
from chatmem.memory.validation import check_id, check_json, check_text
from chatmem.store.live import LIVE_SESSION, soft_delete
from chatmem.store.prepared import Prepared, ReadPlan, WritePlan, statement, statement_alone, upsert
from chatmem.store.records import USER_COLUMNS, UserRecord
from chatmem.store.tables import UTCDateTime, Uuid, sessions, users
from chatmem.store.tenancy import TENANT, of_tenant

_PROFILE = ("email", "first_name", "last_name")
_ts = sa.bindparam("ts", type_=UTCDateTime)
_values = {
    **{field: sa.bindparam(field, type_=sa.Text) for field in _PROFILE},
    "metadata": sa.bindparam("metadata", type_=users.c.metadata.type),
    "updated_at": _ts,
}


def _check_profile(email: str | None, first_name: str | None, last_name: str | None) -> None:
    for field, value in zip(_PROFILE, (email, first_name, last_name), strict=True):
        if value is not None:
            check_text(field, value)


def _build_create(dialect_name: str) -> sa.Insert:
    insert = upsert(dialect_name, users)
    return (
        insert.values(
            tenant_id=TENANT,
            user_id=sa.bindparam("user_id"),
            uuid=sa.bindparam("uuid", type_=Uuid),
            created_at=_ts,
            **_values,
        )
        .on_conflict_do_nothing(index_elements=[users.c.tenant_id, users.c.user_id])
        .returning(*USER_COLUMNS)
    )


_create = Prepared(_build_create)


def create_user_plan(
    tenant_id: int,
    user_id: str,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    metadata: JsonObject | None = None,
) -> WritePlan[UserRecord]:
    check_id("user_id", user_id)
    _check_profile(email, first_name, last_name)
    check_json("metadata", metadata)
    return _create_user(
        tenant_id, user_id, email=email, first_name=first_name, last_name=last_name, metadata=metadata
    )


def _create_user(tenant_id: int, user_id: str, **values: object) -> WritePlan[UserRecord]:
    rows = yield statement_alone(
        _create, tenant_id=tenant_id, user_id=user_id, uuid=uuid.uuid4(), ts=clock.now(), **values
    )
    if not rows:
        raise AlreadyExistsError(f"user already exists with user_id: {user_id}")
    return UserRecord(*rows[0])


_this_user = sa.and_(of_tenant(users), users.c.user_id == sa.bindparam("user_id"))
_get_user = Prepared(sa.select(*USER_COLUMNS).where(_this_user))


def get_user_plan(tenant_id: int, user_id: str) -> ReadPlan[UserRecord]:
    rows = yield statement(_get_user, tenant_id=tenant_id, user_id=user_id)
    if not rows:
        raise NotFoundError("user not found")
    return UserRecord(*rows[0])


_lock_user = Prepared(sa.select(*USER_COLUMNS).where(_this_user).with_for_update())
_update = Prepared(
    sa.update(users).where(users.c.id == sa.bindparam("pk")).values(_values).returning(*USER_COLUMNS)
)


def update_user_plan(
    tenant_id: int,
    user_id: str,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    metadata: JsonObject | None = None,
) -> WritePlan[UserRecord]:
    """Set the non-empty profile fields and merge ``metadata`` (users may write ``system``)."""
    _check_profile(email, first_name, last_name)
    patch = checked_patch(metadata, privileged=True)
    return _update_user(
        tenant_id, user_id, {"email": email, "first_name": first_name, "last_name": last_name}, patch
    )


def _update_user(
    tenant_id: int, user_id: str, profile: dict[str, str | None], patch: JsonObject | None
) -> WritePlan[UserRecord]:
    locked = yield statement(_lock_user, tenant_id=tenant_id, user_id=user_id)
    if not locked:
        raise NotFoundError("user not found")
    current = UserRecord(*locked[0])
    values = {field: value or getattr(current, field) for field, value in profile.items()}
    metadata = merge_patch(current.metadata or {}, patch) if patch else current.metadata
    [row] = yield statement(_update, pk=current.id, ts=clock.now(), metadata=metadata, **values)
    return UserRecord(*row)


_lock_user_id = Prepared(sa.select(users.c.id).where(_this_user).with_for_update())
_users_sessions = sa.and_(of_tenant(sessions), sessions.c.user_id == sa.bindparam("user_id"))
_soft_delete_sessions = Prepared(
    sa.update(sessions).where(_users_sessions, LIVE_SESSION).values(soft_delete(_ts))
)
# Done here, not by the foreign key: a composite key (tenant, user) cannot SET NULL only its user column
# (PostgreSQL < 15, SQLite).
_detach_sessions = Prepared(sa.update(sessions).where(_users_sessions).values(user_id=sa.null()))
_delete = Prepared(sa.delete(users).where(users.c.id == sa.bindparam("pk")))


def delete_user_plan(tenant_id: int, user_id: str) -> WritePlan[None]:
    """Remove the user and soft-delete all of its sessions (the purge removes them for good)."""
    found = yield statement(_lock_user_id, tenant_id=tenant_id, user_id=user_id)
    if not found:
        raise NotFoundError("user not found")
    yield statement(_soft_delete_sessions, tenant_id=tenant_id, user_id=user_id, ts=clock.now())
    # Detached, so a new user with the same id starts with no sessions.
    yield statement(_detach_sessions, tenant_id=tenant_id, user_id=user_id)
    yield statement(_delete, pk=found[0][0])


_list_users = creation_ordered(USER_COLUMNS, users.c.id, of_tenant(users))


def list_users_plan(tenant_id: int, page: PageRequest) -> ReadPlan[Page[UserRecord]]:
    return page_plan(_list_users, page, UserRecord, tenant_id=tenant_id)
