"""Reading summaries for the summarizer; what is live is ``chatmem.store.live``'s rule, as for messages."""

from __future__ import annotations

import sqlalchemy as sa

from chatmem.store.live import LIVE_SESSION, above_floor
from chatmem.store.tables import sessions, summaries


def latest_summary(
    conn: sa.Connection, tenant_id: int, session_pk: int, floor_seq: int
) -> sa.RowMapping | None:
    """``point_seq`` and ``content`` of the newest live summary of a session (the highest point)."""
    return (
        conn.execute(
            sa.select(summaries.c.point_seq, summaries.c.content)
            .where(
                summaries.c.tenant_id == tenant_id,
                summaries.c.session_pk == session_pk,
                above_floor(summaries.c.point_seq, floor_seq),
            )
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
    query = sa.select(sessions.c.floor_seq).where(sessions.c.id == session_pk, LIVE_SESSION)
    if lock:
        query = query.with_for_update(key_share=True)
    return conn.execute(query).first()
