"""What can be searched (messages, summaries), where (one session, or every session of a user), and the
SQL that restricts a query to the live rows of that scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa

from chatmem.search.query import Scope
from chatmem.store.embedded import Embedded
from chatmem.store.live import LIVE_SESSION, above_floor, live
from chatmem.store.tables import (
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
)

# The FTS5 rowid of a row is session_pk << 32 | seq (migration 0003).
ROWID_SHIFT = 32
SEQ_MASK = (1 << ROWID_SHIFT) - 1


class PgVector(sa.types.UserDefinedType[Any]):
    """pgvector's ``vector`` (or ``vector(n)``), only for casts in queries."""

    cache_ok = True

    def __init__(self, dimensions: int | None = None) -> None:
        self.dimensions = dimensions

    def get_col_spec(self, **_kw: Any) -> str:
        return "vector" if self.dimensions is None else f"vector({self.dimensions})"


@dataclass(frozen=True)
class Target(Embedded):
    """A searchable table and its satellites: embeddings, FTS5 table (SQLite), pgvector copy."""

    vectors: sa.TableClause
    fts: str


def _vectors_table(name: str, key: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("tenant_id", sa.BigInteger),
        sa.column("session_pk", sa.BigInteger),
        sa.column(key, sa.BigInteger),
        sa.column("model", sa.Text),
        sa.column("dims", sa.Integer),
        sa.column("embedding", PgVector()),
    )


TARGETS: dict[Scope, Target] = {
    Scope.MESSAGES: Target(
        messages, "seq", message_embeddings, _vectors_table("message_vectors", "seq"), "messages_fts"
    ),
    Scope.SUMMARY: Target(
        summaries,
        "point_seq",
        summary_embeddings,
        _vectors_table("summary_vectors", "point_seq"),
        "summaries_fts",
    ),
}
# Widths with an HNSW index (migration 0003); vectors of other widths are always ranked exactly.
HNSW_DIMENSIONS = frozenset({384, 1536})


@dataclass(frozen=True, slots=True)
class Within:
    """One session (by its id), or every session of one user, of one tenant."""

    tenant_id: int
    session_id: str | None = None
    user_id: str | None = None


class LiveSession(NamedTuple):
    pk: int
    floor_seq: int
    message_count: int
    vectors_version: int


@dataclass(frozen=True, slots=True)
class LiveScope:
    """The live sessions a search covers."""

    within: Within
    sessions: tuple[LiveSession, ...]

    @property
    def single(self) -> tuple[int, int] | None:
        """(pk, floor_seq) when the scope is one session."""
        if self.within.session_id is None:
            return None
        return self.sessions[0].pk, self.sessions[0].floor_seq

    @property
    def size(self) -> int:
        """Live messages in scope (an upper bound for summaries): decides exact vs. HNSW ranking."""
        return sum(session.message_count for session in self.sessions)

    def restrict(self, query: sa.Select[Any], table: sa.FromClause, pk: Any, key: Any) -> sa.Select[Any]:
        """Keep rows of ``table`` (key columns ``pk``, ``key``) that are live and in scope. The tenant
        leads the keys of every table below a session, so it is named first."""
        tenant = table.c.tenant_id == self.within.tenant_id
        single = self.single
        if single is not None:
            return query.where(tenant, pk == single[0], above_floor(key, single[1]))
        return query.join_from(
            table, sessions, sa.and_(sessions.c.tenant_id == table.c.tenant_id, sessions.c.id == pk)
        ).where(
            tenant,
            sessions.c.tenant_id == self.within.tenant_id,
            sessions.c.user_id == self.within.user_id,
            live(key),
        )


def with_keys(pk: Any, key: Any, keys: Iterable[tuple[int, int]]) -> sa.ColumnElement[bool]:
    """``(pk, key) IN keys`` written as one ``pk = ? AND key IN (...)`` per session: SQLite scans the
    whole table for a row-value IN list, but seeks the primary key for each of these."""
    grouped: dict[int, list[int]] = {}
    for session_pk, seq in keys:
        grouped.setdefault(session_pk, []).append(seq)
    return sa.or_(
        sa.false(), *(sa.and_(pk == session_pk, key.in_(seqs)) for session_pk, seqs in grouped.items())
    )


def resolve(conn: sa.Connection, within: Within) -> LiveScope | None:
    """The live sessions of the scope, or None when there are none (an unknown session or user)."""
    query = sa.select(
        sessions.c.id, sessions.c.floor_seq, sessions.c.message_count, sessions.c.vectors_version
    ).where(sessions.c.tenant_id == within.tenant_id, LIVE_SESSION)
    if within.session_id is not None:
        query = query.where(sessions.c.session_id == within.session_id)
    else:
        query = query.where(sessions.c.user_id == within.user_id)
    rows = conn.execute(query).all()
    if not rows:
        return None
    return LiveScope(within, tuple(LiveSession(*row) for row in rows))
