"""The purge: hard-deletes what was soft-deleted. Live data is never touched."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from chatmem.store import Database
from chatmem.store.tables import (
    enrich_jobs,
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
)

T = TypeVar("T")

# Rows per transaction: small enough that a purge never holds the SQLite write lock for long.
BATCH = 500


@dataclass(frozen=True, slots=True)
class PurgeResult:
    sessions: int
    messages: int


def purge(db: Database, *, batch: int = BATCH) -> PurgeResult:
    """Remove soft-deleted sessions (with their messages) and the deleted messages of revived ones.

    Each batch locks its session rows first, in id order, as every other writer does (appends, the
    enrichment jobs): with one lock order there is no deadlock to lose. Should the database still pick
    a batch as a deadlock victim, the batch (a transaction of its own, rolled back whole) runs again.
    """
    removed_sessions = removed_messages = 0
    while (found := _retrying(lambda: _deleted_sessions(db, batch))) is not None:
        removed_sessions += found.sessions
        removed_messages += found.messages
    while (found := _retrying(lambda: _deleted_histories(db, batch))) is not None:
        removed_messages += found.messages
    return PurgeResult(sessions=removed_sessions, messages=removed_messages)


DEADLOCK_RETRIES = 5


def _retrying(run: Callable[[], T]) -> T:
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return run()
        except sa.exc.OperationalError as exc:
            # SQLSTATE 40P01 (deadlock_detected) or 40001 (serialization_failure): nothing was written.
            if (
                getattr(exc.orig, "sqlstate", None) not in ("40P01", "40001")
                or attempt == DEADLOCK_RETRIES - 1
            ):
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


def _deleted_sessions(db: Database, batch: int) -> PurgeResult | None:
    """One batch of soft-deleted sessions, removed with everything they hold; None when none is left."""
    with db.write() as conn:
        ids = (
            conn.execute(
                sa.select(sessions.c.id)
                .where(sessions.c.deleted_at.is_not(None))
                .order_by(sessions.c.id)
                .limit(batch)
                # Locked, so a concurrent revival waits for this transaction and then starts afresh.
                .with_for_update()
            )
            .scalars()
            .all()
        )
        if not ids:
            return None
        for table in (enrich_jobs, summary_embeddings, summaries, message_embeddings):
            conn.execute(sa.delete(table).where(table.c.session_pk.in_(ids)))
        removed_messages = conn.execute(sa.delete(messages).where(messages.c.session_pk.in_(ids))).rowcount
        removed_sessions = conn.execute(sa.delete(sessions).where(sessions.c.id.in_(ids))).rowcount
    return PurgeResult(sessions=removed_sessions, messages=removed_messages)


def _deleted_histories(db: Database, batch: int) -> PurgeResult | None:
    """The deleted messages (and their enrichment) of one batch of revived sessions; None when done."""
    removed_messages = 0
    with db.write() as conn:
        revived = conn.execute(
            sa.select(sessions.c.id, sessions.c.floor_seq)
            .where(sessions.c.floor_seq > sessions.c.purged_seq)
            .order_by(sessions.c.id)
            .limit(batch)
            .with_for_update()
        ).all()
        if not revived:
            return None
        for session_pk, floor_seq in revived:
            _purge_enrichment(conn, session_pk, floor_seq)
            removed_messages += conn.execute(
                sa.delete(messages).where(messages.c.session_pk == session_pk, messages.c.seq <= floor_seq)
            ).rowcount
            conn.execute(sa.update(sessions).where(sessions.c.id == session_pk).values(purged_seq=floor_seq))
    return PurgeResult(sessions=0, messages=removed_messages)


def _purge_enrichment(conn: sa.Connection, session_pk: int, floor_seq: int) -> None:
    """Summaries, vectors and jobs of the deleted part (seq <= floor_seq) of a revived session."""
    for table, seq in (
        (summary_embeddings, summary_embeddings.c.point_seq),
        (summaries, summaries.c.point_seq),
        (message_embeddings, message_embeddings.c.seq),
        (enrich_jobs, enrich_jobs.c.seq_hi),
    ):
        conn.execute(sa.delete(table).where(table.c.session_pk == session_pk, seq <= floor_seq))
