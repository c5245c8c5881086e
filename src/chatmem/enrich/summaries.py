"""Reading and writing summaries. A summary is live while its session is live and its point is above the
session's ``floor_seq``, the same O(1) soft-delete rule as messages."""

from __future__ import annotations

import sqlalchemy as sa

from chatmem.store.tables import sessions, summaries

SUMMARY_COLUMNS = (
    summaries.c.point_seq,
    summaries.c.uuid,
    summaries.c.content,
    summaries.c.recent_message_uuid,
    summaries.c.token_count,
    summaries.c.metadata,
    summaries.c.created_at,
)


def latest_summary(conn: sa.Connection, session_pk: int, floor_seq: int) -> sa.RowMapping | None:
    """The newest live summary of a session (the one with the highest point)."""
    return (
        conn.execute(
            sa.select(*SUMMARY_COLUMNS)
            .where(summaries.c.session_pk == session_pk, summaries.c.point_seq > floor_seq)
            .order_by(summaries.c.point_seq.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def live_session(conn: sa.Connection, session_pk: int, *, lock: bool = False) -> sa.Row[tuple[int]] | None:
    """``(floor_seq,)`` of a live session, None if it is deleted or gone.

    With ``lock`` the row is locked on PostgreSQL (FOR NO KEY UPDATE), so a concurrent delete or purge
    waits until the caller's results are committed (and then removes them) instead of leaving orphans
    behind, and so does another worker folding the same session: it then sees the new summary and starts
    from it, instead of inserting a second summary at the same point. Appends are not held up.
    """
    query = sa.select(sessions.c.floor_seq).where(
        sessions.c.id == session_pk, sessions.c.deleted_at.is_(None)
    )
    if lock:
        query = query.with_for_update(key_share=True)
    return conn.execute(query).first()
