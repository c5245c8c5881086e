"""The auth revision: a counter bumped by every change that must reach the servers' key caches."""

from __future__ import annotations

import sqlalchemy as sa

from chatmem.store.prepared import Prepared, ReadPlan, statement
from chatmem.store.tables import auth_revision


def bump(conn: sa.Connection) -> None:
    """Call inside the transaction that revokes a key or deletes a tenant."""
    conn.execute(sa.update(auth_revision).values(revision=auth_revision.c.revision + 1))


_current = Prepared(sa.select(auth_revision.c.revision))


def current_plan() -> ReadPlan[int]:
    rows = yield statement(_current)
    return int(rows[0][0]) if rows else 0
