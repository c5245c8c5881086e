"""Erase a user for good, now: the user, its sessions (live or deleted) and everything derived from
them (messages, summaries, vectors, full-text rows, queued jobs), in one transaction.

On SQLite every connection runs with ``secure_delete`` (store/database.py), so deleted rows are
overwritten with zeros; the erase then rebuilds the full-text indexes' segments ('optimize') so no
old segment keeps the user's terms, and checkpoints the WAL into the database file and truncates it.
On PostgreSQL the rows become dead tuples until VACUUM reuses their space: docs/portability.md says
what that means and what backups keep.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from chatmem.base.errors import NotFoundError
from chatmem.store import Database
from chatmem.store.tables import (
    enrich_jobs,
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
    users,
)

# Children first: the foreign keys point at sessions.
_DERIVED = (
    ("jobs", enrich_jobs),
    ("summary_vectors", summary_embeddings),
    ("summaries", summaries),
    ("message_vectors", message_embeddings),
    ("messages", messages),
)
_FULL_TEXT = ("messages_fts", "summaries_fts")


@dataclass(frozen=True, slots=True)
class EraseReceipt:
    """What the erase removed, row counts per kind."""

    user_id: str
    users: int
    sessions: int
    messages: int
    summaries: int
    message_vectors: int
    summary_vectors: int
    jobs: int
    # SQLite: the WAL was checkpointed into the database file and truncated to zero bytes.
    wal_truncated: bool | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def erase_user(db: Database, tenant_id: int, user_id: str) -> EraseReceipt:
    removed: dict[str, int] = {}
    with db.write() as conn:
        found = conn.execute(
            sa.select(users.c.id)
            .where(users.c.tenant_id == tenant_id, users.c.user_id == user_id)
            .with_for_update()
        ).first()
        if found is None:
            raise NotFoundError("user not found")
        owned = sa.select(sessions.c.id).where(
            sessions.c.tenant_id == tenant_id, sessions.c.user_id == user_id
        )
        for name, table in _DERIVED:
            removed[name] = conn.execute(
                sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.session_pk.in_(owned))
            ).rowcount
        removed["sessions"] = conn.execute(
            sa.delete(sessions).where(sessions.c.tenant_id == tenant_id, sessions.c.user_id == user_id)
        ).rowcount
        removed["users"] = conn.execute(sa.delete(users).where(users.c.id == found[0])).rowcount
        if db.is_sqlite:
            # FTS5 deletes leave the terms in old index segments until they are merged; 'optimize'
            # merges every segment into one, without the deleted rows (SQLite 3.40 has no
            # 'secure-delete' option for FTS5). It costs a rewrite of the index.
            for index in _FULL_TEXT:
                conn.exec_driver_sql(f"INSERT INTO {index}({index}) VALUES('optimize')")
    return EraseReceipt(user_id=user_id, **removed, wal_truncated=_truncate_wal(db))


def _truncate_wal(db: Database) -> bool | None:
    """Copy the WAL into the database file and truncate it, so the erased rows' old page images leave
    the WAL too. False when a reader held an old snapshot (it is truncated at a later checkpoint)."""
    if not db.is_sqlite:
        return None
    # On the raw connection, outside any transaction: a checkpoint cannot run inside one.
    pooled = db.engine.raw_connection()
    try:
        sqlite: Any = pooled.dbapi_connection
        busy, _log, _checkpointed = sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        pooled.close()
    return bool(busy == 0)
