"""The purge: hard-deletes what was soft-deleted. Live data is never touched."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

from chatmem.store import Database
from chatmem.store.live import DELETED_SESSION, above_floor
from chatmem.store.prepared import Prepared, Reads, WritePlan, Writes, statement, statement_many
from chatmem.store.tables import (
    enrich_jobs,
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
)

T = TypeVar("T")

# Sessions per transaction: small enough that a purge never holds the SQLite write lock for long.
BATCH = 500
DEADLOCK_RETRIES = 5


@dataclass(frozen=True, slots=True)
class PurgeResult:
    sessions: int
    messages: int


def purge(db: Database, *, batch: int = BATCH) -> PurgeResult:
    """Remove soft-deleted sessions (with their messages) and the deleted messages of revived ones.

    Each batch locks its session rows first, in id order, as every other writer does (appends upsert
    the session, the enrichment jobs lock theirs first): with one lock order there is no deadlock with
    the workers. Should PostgreSQL still pick a batch as a deadlock victim, the batch (a transaction of
    its own, rolled back whole) runs again.
    """
    removed_sessions = removed_messages = 0
    for work in (_DELETED_SESSIONS, _BELOW_FLOORS):

        def one_batch(work: _Pass = work) -> PurgeResult | None:
            return db.write_plan(_purge_batch(work, batch))

        while (done := _retrying(one_batch)) is not None:
            removed_sessions += done.sessions
            removed_messages += done.messages
    return PurgeResult(sessions=removed_sessions, messages=removed_messages)


def _retrying(run: Callable[[], T]) -> T:
    for attempt in range(DEADLOCK_RETRIES):
        try:
            return run()
        except Exception as exc:
            # SQLSTATE 40P01 (deadlock_detected) or 40001 (serialization_failure): nothing was written.
            code = getattr(getattr(exc, "orig", exc), "sqlstate", None)
            if code not in ("40P01", "40001") or attempt == DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class _Pass:
    """One kind of purge: ``find`` locks a batch of sessions (``pk``, ``tn`` and maybe ``floor`` per row),
    ``count`` counts one session's messages to remove, ``writes`` run once per session of the batch."""

    find: Prepared[Reads]
    count: Prepared[Reads]
    writes: tuple[Prepared[Writes], ...]
    removes_sessions: bool


def _purge_batch(work: _Pass, batch: int) -> WritePlan[PurgeResult | None]:
    found = yield statement(work.find, batch=batch)
    if not found:
        return None
    params = [dict(zip(("pk", "tn", "floor"), row, strict=False)) for row in found]
    count = 0
    for one in params:
        [(n,)] = yield statement(work.count, **one)
        count += n
    for write in work.writes:
        yield statement_many(write, params)
    return PurgeResult(sessions=len(params) if work.removes_sessions else 0, messages=count)


_pk = sa.bindparam("pk", type_=sa.BigInteger)
_tn = sa.bindparam("tn", type_=sa.BigInteger)
_floor = sa.bindparam("floor", type_=sa.BigInteger)
# The sessions are locked, so a concurrent revival waits for the purge's transaction and starts afresh.
_DELETED_SESSIONS = _Pass(
    find=Prepared(
        sa.select(sessions.c.id, sessions.c.tenant_id)
        .where(DELETED_SESSION)
        .order_by(sessions.c.id)
        .limit(sa.bindparam("batch"))
        .with_for_update()
    ),
    count=Prepared(
        sa.select(sa.func.count()).where(messages.c.tenant_id == _tn, messages.c.session_pk == _pk)
    ),
    writes=(
        *(
            Prepared(sa.delete(table).where(table.c.tenant_id == _tn, table.c.session_pk == _pk))
            for table in (enrich_jobs, summary_embeddings, summaries, message_embeddings, messages)
        ),
        Prepared(sa.delete(sessions).where(sessions.c.id == _pk)),
    ),
    removes_sessions=True,
)
# The deleted part (at or below floor_seq) of revived sessions: summaries, vectors, jobs, messages.
_BELOW_FLOORS = _Pass(
    find=Prepared(
        sa.select(sessions.c.id, sessions.c.tenant_id, sessions.c.floor_seq)
        .where(above_floor(sessions.c.floor_seq, sessions.c.purged_seq))
        .order_by(sessions.c.id)
        .limit(sa.bindparam("batch"))
        .with_for_update()
    ),
    count=Prepared(
        sa.select(sa.func.count()).where(
            messages.c.tenant_id == _tn, messages.c.session_pk == _pk, ~above_floor(messages.c.seq, _floor)
        )
    ),
    writes=(
        *(
            Prepared(
                sa.delete(table).where(
                    table.c.tenant_id == _tn, table.c.session_pk == _pk, ~above_floor(position, _floor)
                )
            )
            for table, position in (
                (summary_embeddings, summary_embeddings.c.point_seq),
                (summaries, summaries.c.point_seq),
                (message_embeddings, message_embeddings.c.seq),
                (enrich_jobs, enrich_jobs.c.seq_hi),
                (messages, messages.c.seq),
            )
        ),
        Prepared(sa.update(sessions).where(sessions.c.id == _pk).values(purged_seq=_floor)),
    ),
    removes_sessions=False,
)
