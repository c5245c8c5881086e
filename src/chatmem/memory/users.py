"""Users: one user owns many sessions; deleting a user soft-deletes its sessions."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.base.errors import AlreadyExistsError, NotFoundError
from chatmem.base.json import JsonObject
from chatmem.memory.metadata import checked_patch, merge_patch
from chatmem.memory.paging import PageRequest, creation_ordered, fetch_page
from chatmem.memory.records import Page
from chatmem.memory.validation import check_id, check_json, check_text
from chatmem.store import Database
from chatmem.store.live import LIVE_SESSION, soft_delete
from chatmem.store.prepared import Prepared
from chatmem.store.records import USER_COLUMNS, UserRecord
from chatmem.store.tables import sessions, users


def _check_profile(email: str | None, first_name: str | None, last_name: str | None) -> None:
    for field, value in (("email", email), ("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            check_text(field, value)


def create_user(
    db: Database,
    user_id: str,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    metadata: JsonObject | None = None,
) -> UserRecord:
    check_id("user_id", user_id)
    _check_profile(email, first_name, last_name)
    check_json("metadata", metadata)
    ts = clock.now()
    insert = (
        db.insert(users)
        .values(
            user_id=user_id,
            uuid=uuid.uuid4(),
            email=email,
            first_name=first_name,
            last_name=last_name,
            metadata=metadata,
            created_at=ts,
            updated_at=ts,
        )
        .on_conflict_do_nothing(index_elements=[users.c.user_id])
        .returning(*USER_COLUMNS)
    )
    with db.write() as conn:
        row = conn.execute(insert).mappings().first()
    if row is None:
        raise AlreadyExistsError(f"user already exists with user_id: {user_id}")
    return UserRecord.from_row(row)


_get_user = Prepared(sa.select(*USER_COLUMNS).where(users.c.user_id == sa.bindparam("user_id")))


def get_user(db: Database, user_id: str) -> UserRecord:
    rows = db.fetch(_get_user, user_id=user_id)
    if not rows:
        raise NotFoundError("user not found")
    return UserRecord(*rows[0])


def update_user(
    db: Database,
    user_id: str,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    metadata: JsonObject | None = None,
) -> UserRecord:
    """Set the non-empty profile fields and merge ``metadata`` (users may write ``system``)."""
    _check_profile(email, first_name, last_name)
    patch = checked_patch(metadata, privileged=True)
    with db.write() as conn:
        current = conn.execute(
            sa.select(users.c.id, users.c.metadata).where(users.c.user_id == user_id).with_for_update()
        ).first()
        if current is None:
            raise NotFoundError("user not found")
        values: dict[str, object] = {"updated_at": clock.now()}
        for field, value in (("email", email), ("first_name", first_name), ("last_name", last_name)):
            if value:
                values[field] = value
        if patch:
            values["metadata"] = merge_patch(current.metadata or {}, patch)
        row = (
            conn.execute(
                sa.update(users).where(users.c.id == current.id).values(values).returning(*USER_COLUMNS)
            )
            .mappings()
            .one()
        )
    return UserRecord.from_row(row)


def delete_user(db: Database, user_id: str) -> None:
    """Remove the user and soft-delete all of its sessions (the purge removes them for good)."""
    with db.write() as conn:
        found = conn.execute(
            sa.select(users.c.id).where(users.c.user_id == user_id).with_for_update()
        ).first()
        if found is None:
            raise NotFoundError("user not found")
        conn.execute(
            sa.update(sessions)
            .where(sessions.c.user_id == user_id, LIVE_SESSION)
            .values(soft_delete(clock.now()))
        )
        # The foreign key (ON DELETE SET NULL) detaches the now-deleted sessions from the user id,
        # so a new user with the same id starts with no sessions.
        conn.execute(sa.delete(users).where(users.c.id == found.id))


_list_users = creation_ordered(USER_COLUMNS, users.c.id)


def list_users(db: Database, page: PageRequest) -> Page[UserRecord]:
    return fetch_page(db, _list_users, page, UserRecord)
