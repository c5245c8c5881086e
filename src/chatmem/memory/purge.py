"""The purge: hard-deletes what was soft-deleted. Live data is never touched."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from chatmem.store import Database
from chatmem.store.tables import messages, sessions

# Rows per transaction: small enough that a purge never holds the SQLite write lock for long.
BATCH = 500


@dataclass(frozen=True, slots=True)
class PurgeResult:
    sessions: int
    messages: int


def purge(db: Database, *, batch: int = BATCH) -> PurgeResult:
    """Remove soft-deleted sessions (with their messages) and the deleted messages of revived ones."""
    removed_sessions = removed_messages = 0
    while True:
        with db.write() as conn:
            ids = (
                conn.execute(
                    sa.select(sessions.c.id)
                    .where(sessions.c.deleted_at.is_not(None))
                    .limit(batch)
                    # Locked, so a concurrent revival waits for this transaction and then starts afresh.
                    .with_for_update()
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            removed_messages += conn.execute(
                sa.delete(messages).where(messages.c.session_pk.in_(ids))
            ).rowcount
            removed_sessions += conn.execute(sa.delete(sessions).where(sessions.c.id.in_(ids))).rowcount
    while True:
        with db.write() as conn:
            revived = conn.execute(
                sa.select(sessions.c.id, sessions.c.floor_seq)
                .where(sessions.c.floor_seq > sessions.c.purged_seq)
                .limit(batch)
                .with_for_update()
            ).all()
            if not revived:
                break
            for session_pk, floor_seq in revived:
                removed_messages += conn.execute(
                    sa.delete(messages).where(
                        messages.c.session_pk == session_pk, messages.c.seq <= floor_seq
                    )
                ).rowcount
                conn.execute(
                    sa.update(sessions).where(sessions.c.id == session_pk).values(purged_seq=floor_seq)
                )
    return PurgeResult(sessions=removed_sessions, messages=removed_messages)
