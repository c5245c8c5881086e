"""The purge: hard-deletes what was soft-deleted. Live data is never touched."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from chatmem.store import Database
from chatmem.store.live import DELETED_SESSION, above_floor
from chatmem.store.tables import (
    enrich_jobs,
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
)

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
                    .where(DELETED_SESSION)
                    .limit(batch)
                    # Locked, so a concurrent revival waits for this transaction and then starts afresh.
                    .with_for_update()
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            for table in (enrich_jobs, summary_embeddings, summaries, message_embeddings):
                conn.execute(sa.delete(table).where(table.c.session_pk.in_(ids)))
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
                _purge_enrichment(conn, session_pk, floor_seq)
                removed_messages += conn.execute(
                    sa.delete(messages).where(
                        messages.c.session_pk == session_pk, ~above_floor(messages.c.seq, floor_seq)
                    )
                ).rowcount
                conn.execute(
                    sa.update(sessions).where(sessions.c.id == session_pk).values(purged_seq=floor_seq)
                )
    return PurgeResult(sessions=removed_sessions, messages=removed_messages)


def _purge_enrichment(conn: sa.Connection, session_pk: int, floor_seq: int) -> None:
    """Summaries, vectors and jobs of the deleted part (seq <= floor_seq) of a revived session."""
    for table, seq in (
        (summary_embeddings, summary_embeddings.c.point_seq),
        (summaries, summaries.c.point_seq),
        (message_embeddings, message_embeddings.c.seq),
        (enrich_jobs, enrich_jobs.c.seq_hi),
    ):
        conn.execute(sa.delete(table).where(table.c.session_pk == session_pk, ~above_floor(seq, floor_seq)))
