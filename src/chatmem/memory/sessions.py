"""Sessions: create (or revive), read, merge metadata, soft-delete, list."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from chatmem.base import clock
from chatmem.base.errors import AlreadyExistsError, BadRequestError, NotFoundError
from chatmem.base.json import JsonObject
from chatmem.memory.metadata import checked_patch, merge_patch
from chatmem.memory.paging import PageRequest, creation_ordered, fetch_page
from chatmem.memory.records import Page
from chatmem.memory.validation import check_id, check_json
from chatmem.store import Database
from chatmem.store.live import DELETED_SESSION, LIVE_SESSION, soft_delete
from chatmem.store.prepared import Prepared, ReadPlan, WritePlan, statement
from chatmem.store.records import SESSION_COLUMNS, SessionRecord
from chatmem.store.tables import UTCDateTime, sessions, users


def create_session(
    db: Database, session_id: str, *, user_id: str | None = None, metadata: JsonObject | None = None
) -> SessionRecord:
    """Create a session; a soft-deleted one with that id is revived with the given user and metadata.

    A live session with that id, or an unknown ``user_id``, is a ``BadRequestError``.
    """
    check_id("session_id", session_id)
    if user_id is not None:
        check_id("user_id", user_id)
    check_json("metadata", metadata)
    ts = clock.now()
    insert = db.insert(sessions).values(
        session_id=session_id,
        uuid=uuid.uuid4(),
        user_id=user_id,
        metadata=metadata,
        created_at=ts,
        updated_at=ts,
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[sessions.c.session_id],
        set_={"user_id": user_id, "metadata": metadata, "updated_at": ts, "deleted_at": None},
        where=DELETED_SESSION,
    ).returning(*SESSION_COLUMNS)
    try:
        with db.write() as conn:
            if user_id is not None and not _user_exists(conn, user_id):
                raise BadRequestError(f"user does not exist with user_id: {user_id}")
            row = conn.execute(upsert).mappings().first()
    except IntegrityError as exc:  # the user was deleted between the check and the insert
        raise BadRequestError(f"user does not exist with user_id: {user_id}") from exc
    if row is None:
        raise AlreadyExistsError(f"session already exists with session_id: {session_id}")
    return SessionRecord.from_row(row)


def _user_exists(conn: sa.Connection, user_id: str) -> bool:
    return conn.execute(sa.select(users.c.id).where(users.c.user_id == user_id)).first() is not None


_get_live = Prepared(
    sa.select(*SESSION_COLUMNS).where(sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION)
)


def get_session(db: Database, session_id: str) -> SessionRecord:
    return db.read_plan(get_session_plan(session_id))


def get_session_plan(session_id: str) -> ReadPlan[SessionRecord]:
    rows = yield statement(_get_live, session_id=session_id)
    if not rows:
        raise NotFoundError("session not found")
    return SessionRecord(*rows[0])


_lock_live = Prepared(
    sa.select(sessions.c.id, sessions.c.metadata)
    .where(sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION)
    .with_for_update()
)
_touch = Prepared(
    sa.update(sessions)
    .where(sessions.c.id == sa.bindparam("pk"))
    .values(updated_at=sa.bindparam("ts", type_=UTCDateTime))
    .returning(*SESSION_COLUMNS)
)
_set_metadata = Prepared(
    sa.update(sessions)
    .where(sessions.c.id == sa.bindparam("pk"))
    .values(
        updated_at=sa.bindparam("ts", type_=UTCDateTime),
        metadata=sa.bindparam("metadata", type_=sessions.c.metadata.type),
    )
    .returning(*SESSION_COLUMNS)
)


def update_session(db: Database, session_id: str, metadata: JsonObject | None) -> SessionRecord:
    return db.write_plan(update_session_plan(session_id, metadata))


def update_session_plan(session_id: str, metadata: JsonObject | None) -> WritePlan[SessionRecord]:
    """Merge ``metadata`` into the session's (RFC 7396; the ``system`` key is not writable here).

    The row lock (PostgreSQL) or the single writer (SQLite) makes concurrent merges serialize, so no
    writer's keys are lost. Bad input is refused here, before any transaction starts.
    """
    return _merge(session_id, checked_patch(metadata, privileged=False))


def _merge(session_id: str, patch: JsonObject | None) -> WritePlan[SessionRecord]:
    current = yield statement(_lock_live, session_id=session_id)
    if not current:
        raise NotFoundError("session not found")
    [(pk, stored)] = current
    if patch:
        merged = merge_patch(stored or {}, patch)
        [row] = yield statement(_set_metadata, pk=pk, ts=clock.now(), metadata=merged)
    else:
        [row] = yield statement(_touch, pk=pk, ts=clock.now())
    return SessionRecord(*row)


def update_or_create_session(
    db: Database, session_id: str, metadata: JsonObject | None, *, user_id: str | None = None
) -> SessionRecord:
    """Merge into the live session, or create it (as a new message would) when there is none.

    A soft-deleted session is revived empty, as ``create_session`` revives it. ``user_id`` only
    applies when the session is created.
    """
    try:
        return update_session(db, session_id, metadata)
    except NotFoundError:
        pass
    patch = checked_patch(metadata, privileged=False)
    try:
        return create_session(
            db, session_id, user_id=user_id, metadata=merge_patch({}, patch) if patch else None
        )
    except AlreadyExistsError:
        # Someone else created it between our two transactions: merge into theirs.
        return update_session(db, session_id, metadata)


def delete_session(db: Database, session_id: str) -> None:
    """Soft-delete the session and everything in it; an unknown or deleted session is NotFound."""
    with db.write() as conn:
        result = conn.execute(
            sa.update(sessions)
            .where(sessions.c.session_id == session_id, LIVE_SESSION)
            .values(soft_delete(clock.now()))
        )
    if result.rowcount == 0:
        raise NotFoundError("session not found")


_list_live = creation_ordered(SESSION_COLUMNS, sessions.c.id, LIVE_SESSION)
_list_live_of_user = creation_ordered(
    SESSION_COLUMNS, sessions.c.id, LIVE_SESSION, sessions.c.user_id == sa.bindparam("user_id")
)


def list_sessions(db: Database, page: PageRequest, *, user_id: str | None = None) -> Page[SessionRecord]:
    """Live sessions in creation order (optionally one user's), paged by offset or keyset."""
    if user_id is None:
        return fetch_page(db, _list_live, page, SessionRecord)
    return fetch_page(db, _list_live_of_user, page, SessionRecord, user_id=user_id)
