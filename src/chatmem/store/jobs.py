"""The enrichment job table's rows: job kinds and states, and the ``ingest`` job an append inserts in its
own transaction (so no stored message is ever missed). The queue that claims and settles jobs is
``chatmem.enrich.queue``; the append (``chatmem.memory.messages``) only needs this insert.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

import sqlalchemy as sa

from chatmem.store.prepared import Prepared, Step, Writes, statement
from chatmem.store.tables import enrich_jobs


class Kind(enum.StrEnum):
    INGEST = "ingest"  # count tokens, then fan out to the kinds below
    EMBED_MESSAGES = "embed_messages"
    SUMMARIZE = "summarize"
    EMBED_SUMMARY = "embed_summary"


class State(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DEAD = "dead"


def job_row(
    tenant_id: int, session_pk: int, kind: Kind, seq_lo: int, seq_hi: int, ts: dt.datetime
) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "session_pk": session_pk,
        "id": uuid.uuid4(),
        "kind": kind.value,
        "seq_lo": seq_lo,
        "seq_hi": seq_hi,
        "state": State.QUEUED.value,
        "attempts": 0,
        "run_at": ts,
        "created_at": ts,
        "updated_at": ts,
    }


# Prepared once: this insert is on the append hot path.
_insert_job = Prepared(
    sa.insert(enrich_jobs).values(
        {
            column.name: sa.bindparam(column.name, type_=column.type)
            for column in enrich_jobs.c
            if column.name not in ("claim_token", "last_error")
        }
    )
)


def ingest_job(tenant_id: int, session_pk: int, seq_lo: int, seq_hi: int, ts: dt.datetime) -> Step[Writes]:
    """The step the append transaction runs: one ``ingest`` job covering the new messages.

    The write path stays one small insert whatever is configured; the worker that runs ``ingest``
    knows its settings and fans out to the embedding and summary jobs.
    """
    return statement(_insert_job, **job_row(tenant_id, session_pk, Kind.INGEST, seq_lo, seq_hi, ts))


def ingest_job_from(
    tenant_id: Any,
    session_pk: Any,
    seq_lo: Any,
    seq_hi: Any,
    ts: sa.BindParameter[Any],
    *,
    job_id: Any = None,
    source: sa.FromClause | None = None,
) -> sa.Insert:
    """``ingest_job`` as an INSERT ... SELECT whose values are SQL expressions: the columns of a CTE
    (PostgreSQL's one-statement append) or of ``source`` (the appends made together). ``id`` is
    ``job_id``, or bound as ``job_id``."""
    values = {
        "tenant_id": tenant_id,
        "session_pk": session_pk,
        "id": sa.bindparam("job_id", type_=enrich_jobs.c.id.type) if job_id is None else job_id,
        # Constants rendered into the SQL, as in the session upsert of the append.
        "kind": sa.literal_column(f"'{Kind.INGEST.value}'", sa.Text),
        "seq_lo": seq_lo,
        "seq_hi": seq_hi,
        "state": sa.literal_column(f"'{State.QUEUED.value}'", sa.Text),
        "attempts": sa.literal_column("0", sa.Integer),
        "run_at": ts,
        "created_at": ts,
        "updated_at": ts,
    }
    select = sa.select(*values.values())
    if source is not None:
        select = select.select_from(source)
    return sa.insert(enrich_jobs).from_select(list(values), select)
