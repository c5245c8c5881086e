"""Sessions: create (or revive), read, merge metadata, soft-delete, list."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.base.errors import AlreadyExistsError, BadRequestError, NotFoundError
from chatmem.base.json import JsonObject
from chatmem.memory.metadata import checked_patch, merge_patch
from chatmem.memory.paging import PageRequest, creation_ordered, page_plan
from chatmem.memory.records import Page
from chatmem.memory.validation import check_id, check_json
from chatmem.store.live import DELETED_SESSION, LIVE_SESSION, soft_delete
from chatmem.store.prepared import Prepared, ReadPlan, WritePlan, statement, statement_alone, upsert
from chatmem.store.records import SESSION_COLUMNS, SessionRecord
from chatmem.store.tables import UTCDateTime, Uuid, sessions, users
from chatmem.store.tenancy import TENANT, of_tenant

_ts = sa.bindparam("ts", type_=UTCDateTime)
_metadata = sa.bindparam("metadata", type_=sessions.c.metadata.type)
# Share-locked (PostgreSQL) so that the user cannot be deleted before the session referring to it
# commits; SQLite's single writer already serializes the two.
_user_exists = Prepared(
    sa.select(users.c.id)
    .where(of_tenant(users), users.c.user_id == sa.bindparam("user_id"))
    .with_for_update(read=True)
)


def _build_create(dialect_name: str) -> sa.Insert:
    """Insert the session, or revive a soft-deleted one with that id; no row back if it is live."""
    insert = upsert(dialect_name, sessions)
    user_id = sa.bindparam("user_id", type_=sa.Text)
    return (
        insert.values(
            tenant_id=TENANT,
            session_id=sa.bindparam("session_id"),
            uuid=sa.bindparam("uuid", type_=Uuid),
            user_id=user_id,
            metadata=_metadata,
            created_at=_ts,
            updated_at=_ts,
        )
        .on_conflict_do_update(
            index_elements=[sessions.c.tenant_id, sessions.c.session_id],
            set_={"user_id": user_id, "metadata": _metadata, "updated_at": _ts, "deleted_at": sa.null()},
            where=DELETED_SESSION,
        )
        .returning(*SESSION_COLUMNS)
    )


_create = Prepared(_build_create)


def create_session_plan(
    tenant_id: int, session_id: str, *, user_id: str | None = None, metadata: JsonObject | None = None
) -> WritePlan[SessionRecord]:
    """Create a session; a soft-deleted one with that id is revived with the given user and metadata.

    A live session with that id, or an unknown ``user_id``, is a ``BadRequestError``.
    """
    check_id("session_id", session_id)
    if user_id is not None:
        check_id("user_id", user_id)
    check_json("metadata", metadata)
    return _create_new(tenant_id, session_id, user_id, metadata)


def _create_new(
    tenant_id: int, session_id: str, user_id: str | None, metadata: JsonObject | None
) -> WritePlan[SessionRecord]:
    created = yield from _create_or_revive(tenant_id, session_id, user_id, metadata)
    if created is None:
        raise AlreadyExistsError(f"session already exists with session_id: {session_id}")
    return created


def _create_or_revive(
    tenant_id: int, session_id: str, user_id: str | None, metadata: JsonObject | None
) -> WritePlan[SessionRecord | None]:
    """The new or revived session; None when a live one has that id."""
    if user_id is not None and not (yield statement(_user_exists, tenant_id=tenant_id, user_id=user_id)):
        raise BadRequestError(f"user does not exist with user_id: {user_id}")
    rows = yield statement(
        _create,
        tenant_id=tenant_id,
        session_id=session_id,
        uuid=uuid.uuid4(),
        user_id=user_id,
        metadata=metadata,
        ts=clock.now(),
    )
    return SessionRecord(*rows[0]) if rows else None


_get_live = Prepared(
    sa.select(*SESSION_COLUMNS).where(
        of_tenant(sessions), sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION
    )
)


def get_session_plan(tenant_id: int, session_id: str) -> ReadPlan[SessionRecord]:
    rows = yield statement(_get_live, tenant_id=tenant_id, session_id=session_id)
    if not rows:
        raise NotFoundError("session not found")
    return SessionRecord(*rows[0])


_lock_live = Prepared(
    sa.select(sessions.c.id, sessions.c.metadata)
    .where(of_tenant(sessions), sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION)
    .with_for_update()
)
_touch = Prepared(
    sa.update(sessions)
    .where(sessions.c.id == sa.bindparam("pk"))
    .values(updated_at=_ts)
    .returning(*SESSION_COLUMNS)
)
_set_metadata = Prepared(
    sa.update(sessions)
    .where(sessions.c.id == sa.bindparam("pk"))
    .values(updated_at=_ts, metadata=_metadata)
    .returning(*SESSION_COLUMNS)
)


def update_session_plan(
    tenant_id: int, session_id: str, metadata: JsonObject | None
) -> WritePlan[SessionRecord]:
    """Merge ``metadata`` into the session's (RFC 7396; the ``system`` key is not writable here).

    The row lock (PostgreSQL) or the single writer (SQLite) makes concurrent merges serialize, so no
    writer's keys are lost. Bad input is refused here, before any transaction starts.
    """
    return _merge(tenant_id, session_id, checked_patch(metadata, privileged=False))


def _merge(tenant_id: int, session_id: str, patch: JsonObject | None) -> WritePlan[SessionRecord]:
    locked = yield statement(_lock_live, tenant_id=tenant_id, session_id=session_id)
    if not locked:
        raise NotFoundError("session not found")
    return (yield from _merged(locked[0], patch))


def _merged(locked: tuple[Any, ...], patch: JsonObject | None) -> WritePlan[SessionRecord]:
    pk, stored = locked
    if patch:
        [row] = yield statement(
            _set_metadata, pk=pk, ts=clock.now(), metadata=merge_patch(stored or {}, patch)
        )
    else:
        [row] = yield statement(_touch, pk=pk, ts=clock.now())
    return SessionRecord(*row)


def update_or_create_session_plan(
    tenant_id: int, session_id: str, metadata: JsonObject | None, *, user_id: str | None = None
) -> WritePlan[SessionRecord]:
    """Merge into the live session, or create it (as a new message would) when there is none.

    A soft-deleted session is revived empty, as ``create_session_plan`` revives it. ``user_id`` only
    applies when the session is created.
    """
    check_id("session_id", session_id)
    return _update_or_create(tenant_id, session_id, checked_patch(metadata, privileged=False), user_id)


def _update_or_create(
    tenant_id: int, session_id: str, patch: JsonObject | None, user_id: str | None
) -> WritePlan[SessionRecord]:
    locked = yield statement(_lock_live, tenant_id=tenant_id, session_id=session_id)
    if not locked:
        if user_id is not None:
            check_id("user_id", user_id)
        created = yield from _create_or_revive(
            tenant_id, session_id, user_id, merge_patch({}, patch) if patch else None
        )
        if created is not None:
            return created
        # Another writer created it since our lookup (PostgreSQL; the insert waited for its commit):
        # merge into theirs.
        locked = yield statement(_lock_live, tenant_id=tenant_id, session_id=session_id)
        if not locked:
            raise NotFoundError("session not found")
    return (yield from _merged(locked[0], patch))


_soft_delete = Prepared(
    sa.update(sessions)
    .where(of_tenant(sessions), sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION)
    .values(soft_delete(_ts))
    .returning(sessions.c.id)
)


def delete_session_plan(tenant_id: int, session_id: str) -> WritePlan[None]:
    """Soft-delete the session and everything in it; an unknown or deleted session is NotFound."""
    if not (yield statement_alone(_soft_delete, tenant_id=tenant_id, session_id=session_id, ts=clock.now())):
        raise NotFoundError("session not found")


_list_live = creation_ordered(SESSION_COLUMNS, sessions.c.id, of_tenant(sessions), LIVE_SESSION)
_list_live_of_user = creation_ordered(
    SESSION_COLUMNS,
    sessions.c.id,
    of_tenant(sessions),
    LIVE_SESSION,
    sessions.c.user_id == sa.bindparam("user_id"),
)


def list_sessions_plan(
    tenant_id: int, page: PageRequest, *, user_id: str | None = None
) -> ReadPlan[Page[SessionRecord]]:
    """Live sessions of the tenant in creation order (optionally one user's), paged by offset or keyset.
    A keyset cursor is only a position: whatever it says, only the tenant's rows come back."""
    if user_id is None:
        return page_plan(_list_live, page, SessionRecord, tenant_id=tenant_id)
    return page_plan(_list_live_of_user, page, SessionRecord, tenant_id=tenant_id, user_id=user_id)
