"""Read-your-writes for vector search: the messages in scope that the enrichment queue has not
embedded yet (with the current model).

An append enqueues its ``ingest`` job in the append's own transaction, and ``embed_messages`` deletes
its job in the transaction that stores the vectors; so a live message covered by one of those jobs and
without a vector of the current model is exactly one that vector ranking would miss. The search
embeds the newest ``bound`` of them together with the query, and ranks the rest by text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from chatmem.search.targets import LiveScope
from chatmem.store.jobs import Kind
from chatmem.store.tables import enrich_jobs, message_embeddings, messages

# The job kinds that still owe a message its vector.
_EMBEDDING_KINDS = (Kind.INGEST.value, Kind.EMBED_MESSAGES.value)
# Counting the overflow stops here: the header then says "at least".
COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class Pending:
    rows: list[tuple[tuple[int, int], str]]  # ((session_pk, seq), content), newest first
    overflow: int  # pending rows beyond the bound (capped at COUNT_CAP)


def condition(model: str) -> sa.ColumnElement[bool]:
    """True for a message that a queued, running or dead job still has to embed with ``model``."""
    covered = (
        sa.select(enrich_jobs.c.id)
        .where(
            enrich_jobs.c.tenant_id == messages.c.tenant_id,
            enrich_jobs.c.session_pk == messages.c.session_pk,
            enrich_jobs.c.kind.in_(_EMBEDDING_KINDS),
            messages.c.seq.between(enrich_jobs.c.seq_lo, enrich_jobs.c.seq_hi),
        )
        .exists()
    )
    embedded = (
        sa.select(message_embeddings.c.seq)
        .where(
            message_embeddings.c.tenant_id == messages.c.tenant_id,
            message_embeddings.c.session_pk == messages.c.session_pk,
            message_embeddings.c.seq == messages.c.seq,
            message_embeddings.c.model == model,
        )
        .exists()
    )
    return sa.and_(covered, ~embedded, sa.func.trim(messages.c.content) != "")


def find(
    conn: sa.Connection, scope: LiveScope, model: str, where: list[sa.ColumnElement[bool]], bound: int
) -> Pending:
    """The newest ``bound`` pending messages in scope that pass the filters, and how many more wait."""
    if not _any_job(conn, scope):
        return Pending([], 0)
    query: Any = sa.select(messages.c.session_pk, messages.c.seq, messages.c.content).where(
        condition(model), *where
    )
    query = scope.restrict(query, messages, messages.c.session_pk, messages.c.seq)
    query = query.order_by(messages.c.created_at.desc(), messages.c.seq.desc()).limit(bound + 1)
    rows = [((row[0], row[1]), row[2]) for row in conn.execute(query)]
    overflow = 0
    if len(rows) > bound:
        rest: Any = sa.select(messages.c.seq).where(condition(model), *where)
        rest = scope.restrict(rest, messages, messages.c.session_pk, messages.c.seq).limit(COUNT_CAP + bound)
        overflow = min(
            conn.execute(sa.select(sa.func.count()).select_from(rest.subquery())).scalar_one() - bound,
            COUNT_CAP,
        )
    return Pending(rows[:bound], overflow)


def _any_job(conn: sa.Connection, scope: LiveScope) -> bool:
    """Whether a job that embeds messages is waiting for a live part of the scope: without one, no message
    is pending, and this lookup in the small job table spares the search a pass over every message of
    the scope (at 100,000 messages that pass cost more than the rest of a user search)."""
    query: Any = (
        sa.select(sa.literal(1)).select_from(enrich_jobs).where(enrich_jobs.c.kind.in_(_EMBEDDING_KINDS))
    )
    query = scope.restrict(query, enrich_jobs, enrich_jobs.c.session_pk, enrich_jobs.c.seq_hi)
    return conn.execute(query.limit(1)).first() is not None
