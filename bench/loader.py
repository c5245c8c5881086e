"""Bulk loading: sessions and messages written straight into chatmem's schema (``chatmem.store``).

Going through the HTTP API would take hours at 1M sessions, so the background population is written
with multi-row INSERTs through SQLAlchemy Core on chatmem's own table definitions: the same column
types and encodings chatmem writes, and the same counters (``last_seq``, ``message_count``) that an
append through the API would leave. Session ids are assigned here, so messages need no round trip.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import sqlalchemy as sa

from bench.corpus import Turn
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT_ID, messages, sessions

SessionSpec = tuple[str, list[Turn]]
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _batches(items: Iterable[SessionSpec], rows_per_batch: int) -> Iterator[list[SessionSpec]]:
    iterator = iter(items)
    while True:
        batch: list[SessionSpec] = []
        rows = 0
        for spec in islice(iterator, 10_000):
            batch.append(spec)
            rows += len(spec[1])
            if rows >= rows_per_batch:
                break
        if not batch:
            return
        yield batch


class ChatmemLoader:
    def __init__(self, db: Database) -> None:
        self.db = db
        with db.read() as conn:
            self.next_pk = (
                int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(sessions.c.id), 0))).scalar_one()) + 1
            )
        self.rows_loaded = 0
        self.seconds = 0.0

    def load(self, specs: Iterable[SessionSpec], *, rows_per_batch: int = 50_000) -> None:
        started = time.perf_counter()
        for batch in _batches(specs, rows_per_batch):
            session_rows: list[dict[str, Any]] = []
            message_rows: list[dict[str, Any]] = []
            for session_id, turns in batch:
                pk = self.next_pk
                self.next_pk += 1
                ts = BASE_TIME + dt.timedelta(seconds=pk)
                count = len(turns)
                session_rows.append(
                    {
                        "id": pk,
                        # Every row belongs to a tenant (migration 0006); the benchmarks use the default one.
                        "tenant_id": DEFAULT_TENANT_ID,
                        "session_id": session_id,
                        "uuid": uuid.uuid4(),
                        "metadata": {"source": "chitchat"},
                        "created_at": ts,
                        "updated_at": ts,
                        "last_seq": count,
                        "message_count": count,
                    }
                )
                message_rows.extend(
                    {
                        "tenant_id": DEFAULT_TENANT_ID,
                        "session_pk": pk,
                        "seq": seq,
                        "uuid": uuid.uuid4(),
                        "role": turn.role,
                        "content": turn.content,
                        "metadata": None,
                        "token_count": 0,
                        "created_at": ts,
                        "updated_at": ts,
                    }
                    for seq, turn in enumerate(turns, start=1)
                )
            with self.db.write() as conn:
                conn.execute(sa.insert(sessions), session_rows)
                if message_rows:
                    conn.execute(sa.insert(messages), message_rows)
            self.rows_loaded += len(message_rows)
        if not self.db.is_sqlite:
            # Explicit ids do not advance the sequence; chatmem's own inserts must not collide.
            with self.db.write() as conn:
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('sessions', 'id'), (SELECT max(id) FROM sessions))"
                )
                conn.exec_driver_sql("ANALYZE sessions")
                conn.exec_driver_sql("ANALYZE messages")
        self.seconds += time.perf_counter() - started


def session_pk_at(db: Database, offset: int) -> int:
    """The id of the live session at ``offset`` in creation order (what a keyset cursor carries)."""
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(sessions.c.id)
                .where(sessions.c.deleted_at.is_(None))
                .order_by(sessions.c.id)
                .offset(offset)
                .limit(1)
            ).scalar_one()
        )


def live_session_count(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).where(sessions.c.deleted_at.is_(None))).scalar_one()
        )
