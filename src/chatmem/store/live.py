"""The one rule for what is live, as SQL (docs/architecture.md, "Order and soft delete").

Every message, summary and vector belongs to a session and carries its position in it: ``seq`` for a
message, ``point_seq`` for a summary (its newest folded message). A row is live while its session is not
deleted and its position is above the session's ``floor_seq``. Deleting a session (or all its messages)
is therefore one UPDATE of the session row, O(1) whatever it holds: ``deleted_at`` is set and the floor
rises to ``last_seq``. An append revives the session above that floor; the purge removes what lies below
it for good.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from chatmem.store.tables import sessions

LIVE_SESSION = sessions.c.deleted_at.is_(None)
DELETED_SESSION = sessions.c.deleted_at.is_not(None)


def above_floor(position: Any, floor: Any = sessions.c.floor_seq) -> sa.ColumnElement[bool]:
    """``position`` (a seq or point_seq column) is above the session's floor: not deleted with it.
    ``floor`` is the sessions column (the query joins the session) or a value already read."""
    return sa.and_(position > floor)


def live(position: Any) -> sa.ColumnElement[bool]:
    """The row at ``position`` is live, in a query that joins its session."""
    return sa.and_(LIVE_SESSION, above_floor(position))


def soft_delete(ts: Any) -> dict[str, Any]:
    """Column values that soft-delete a session and, through ``floor_seq``, everything in it (``ts``:
    the time, or a bound parameter for it)."""
    return {"deleted_at": ts, "updated_at": ts, "floor_seq": sessions.c.last_seq, "message_count": 0}
