"""The durable job queue: one table in the same database as the data.

Claiming takes due jobs (``state <> 'dead' AND run_at <= now``) in ``run_at`` order and leases them: the
job becomes ``running`` with ``run_at = now + lease``. A worker that dies (even ``kill -9``) simply never
finishes, and the job becomes due again when its lease runs out. PostgreSQL claims with
``FOR UPDATE SKIP LOCKED`` so concurrent workers never take the same job; on SQLite the claim runs in the
single ``BEGIN IMMEDIATE`` writer, which serializes claims across threads and processes.

A finished job is deleted; a failed one is retried after an exponential backoff, and after
``max_attempts`` tries it stays in the table as ``dead`` with its last error, until someone retries it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from chatmem.base import clock
from chatmem.store import Database
from chatmem.store.jobs import Kind, State
from chatmem.store.tables import enrich_jobs, sessions


@dataclass(frozen=True, slots=True)
class Job:
    tenant_id: int
    session_pk: int
    id: uuid.UUID
    kind: Kind
    seq_lo: int
    seq_hi: int
    attempts: int
    claim_token: uuid.UUID


def enqueue(conn: sa.Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        conn.execute(sa.insert(enrich_jobs), list(rows))


_due = sa.and_(enrich_jobs.c.state != State.DEAD.value)


def claim(db: Database, *, limit: int, lease_seconds: float) -> list[Job]:
    """Lease up to ``limit`` due jobs to the caller."""
    now = clock.now()
    token = uuid.uuid4()
    with db.write() as conn:
        rows = conn.execute(
            sa.select(
                enrich_jobs.c.tenant_id,
                enrich_jobs.c.session_pk,
                enrich_jobs.c.id,
                enrich_jobs.c.kind,
                enrich_jobs.c.seq_lo,
                enrich_jobs.c.seq_hi,
                enrich_jobs.c.attempts,
            )
            .where(_due, enrich_jobs.c.run_at <= now)
            .order_by(enrich_jobs.c.run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        conn.execute(
            sa.update(enrich_jobs)
            .where(
                sa.tuple_(enrich_jobs.c.tenant_id, enrich_jobs.c.session_pk, enrich_jobs.c.id).in_(
                    [(r[0], r[1], r[2]) for r in rows]
                )
            )
            .values(
                state=State.RUNNING.value,
                attempts=enrich_jobs.c.attempts + 1,
                run_at=now + dt.timedelta(seconds=lease_seconds),
                claim_token=token,
                updated_at=now,
            )
        )
    return [
        Job(
            tenant_id=r.tenant_id,
            session_pk=r.session_pk,
            id=r.id,
            kind=Kind(r.kind),
            seq_lo=r.seq_lo,
            seq_hi=r.seq_hi,
            attempts=r.attempts + 1,
            claim_token=token,
        )
        for r in rows
    ]


def _mine(job: Job) -> sa.ColumnElement[bool]:
    # Only the holder of the current lease may settle a job; a worker whose lease ran out is ignored.
    return sa.and_(
        enrich_jobs.c.tenant_id == job.tenant_id,
        enrich_jobs.c.session_pk == job.session_pk,
        enrich_jobs.c.id == job.id,
        enrich_jobs.c.claim_token == job.claim_token,
    )


def complete(conn: sa.Connection, jobs: Sequence[Job]) -> None:
    """Delete finished jobs, inside the transaction that wrote their results: one statement per lease
    (the jobs of one claim share its token)."""
    by_token: dict[uuid.UUID, list[Job]] = {}
    for job in jobs:
        by_token.setdefault(job.claim_token, []).append(job)
    for token, held in by_token.items():
        conn.execute(
            sa.delete(enrich_jobs).where(
                enrich_jobs.c.claim_token == token,
                sa.tuple_(enrich_jobs.c.tenant_id, enrich_jobs.c.session_pk, enrich_jobs.c.id).in_(
                    [(job.tenant_id, job.session_pk, job.id) for job in held]
                ),
            )
        )


def release(db: Database, jobs: Sequence[Job]) -> int:
    """Hand jobs a stopping worker still holds back to the queue, due now, the attempt not counted.

    A worker that finishes one anyway later finds its lease gone and leaves the job alone (the job is
    idempotent and simply runs again)."""
    if not jobs:
        return 0
    now = clock.now()
    released = 0
    with db.write() as conn:
        for job in jobs:
            released += conn.execute(
                sa.update(enrich_jobs)
                .where(_mine(job))
                .values(
                    state=State.QUEUED.value,
                    attempts=enrich_jobs.c.attempts - 1,
                    run_at=now,
                    claim_token=None,
                    updated_at=now,
                )
            ).rowcount
    return released


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter, so a failing provider is not hammered in lockstep."""
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.75, 1.25))


def fail(
    db: Database, job: Job, error: str, *, max_attempts: int, retry_base: float, retry_cap: float
) -> State:
    """Record a failure: back to the queue after a backoff, or dead after the last attempt."""
    now = clock.now()
    dead = job.attempts >= max_attempts
    values: dict[str, object] = {"last_error": error[:2000], "updated_at": now, "claim_token": None}
    if dead:
        values["state"] = State.DEAD.value
    else:
        values["state"] = State.QUEUED.value
        values["run_at"] = now + dt.timedelta(
            seconds=backoff_seconds(job.attempts, base=retry_base, cap=retry_cap)
        )
    with db.write() as conn:
        conn.execute(sa.update(enrich_jobs).where(_mine(job)).values(values))
    return State.DEAD if dead else State.QUEUED


@dataclass(frozen=True, slots=True)
class KindStatus:
    kind: str
    queued: int
    running: int
    dead: int


@dataclass(frozen=True, slots=True)
class DeadJob:
    session_id: str
    id: uuid.UUID
    kind: str
    seq_lo: int
    seq_hi: int
    attempts: int
    last_error: str | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class QueueStatus:
    kinds: list[KindStatus]
    # Age of the oldest job that is not dead: how far behind enrichment is.
    lag_seconds: float
    dead_jobs: list[DeadJob]

    @property
    def depth(self) -> int:
        return sum(k.queued + k.running for k in self.kinds)

    @property
    def dead(self) -> int:
        return sum(k.dead for k in self.kinds)


def _of_tenant(tenant_id: int | None) -> sa.ColumnElement[bool]:
    """Jobs of one tenant's sessions (None: every tenant's)."""
    if tenant_id is None:
        return sa.true()
    return enrich_jobs.c.tenant_id == tenant_id


def status(db: Database, *, tenant_id: int | None = None, dead_limit: int = 20) -> QueueStatus:
    """Counts by kind and state, the lag, and the most recent dead jobs (a scan of the queue table,
    which holds only unfinished work), of one tenant or (None) of all."""
    now = clock.now()
    mine = _of_tenant(tenant_id)
    with db.read() as conn:
        counts = conn.execute(
            sa.select(enrich_jobs.c.kind, enrich_jobs.c.state, sa.func.count())
            .where(mine)
            .group_by(enrich_jobs.c.kind, enrich_jobs.c.state)
        ).all()
        oldest = conn.execute(sa.select(sa.func.min(enrich_jobs.c.created_at)).where(_due, mine)).scalar()
        dead = conn.execute(
            sa.select(
                sessions.c.session_id,
                enrich_jobs.c.id,
                enrich_jobs.c.kind,
                enrich_jobs.c.seq_lo,
                enrich_jobs.c.seq_hi,
                enrich_jobs.c.attempts,
                enrich_jobs.c.last_error,
                enrich_jobs.c.updated_at,
            )
            .select_from(
                enrich_jobs.join(
                    sessions,
                    sa.and_(
                        sessions.c.tenant_id == enrich_jobs.c.tenant_id,
                        sessions.c.id == enrich_jobs.c.session_pk,
                    ),
                )
            )
            .where(enrich_jobs.c.state == State.DEAD.value, mine)
            .order_by(enrich_jobs.c.updated_at.desc())
            .limit(dead_limit)
        ).all()
    table: dict[str, dict[str, int]] = {k.value: {s.value: 0 for s in State} for k in Kind}
    for kind, state, count in counts:
        table.setdefault(kind, {s.value: 0 for s in State})[state] = count
    if isinstance(oldest, str):  # SQLite aggregates lose the column type
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return QueueStatus(
        kinds=[KindStatus(kind, c["queued"], c["running"], c["dead"]) for kind, c in table.items()],
        lag_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        dead_jobs=[DeadJob(*row) for row in dead],
    )


def retry_dead(db: Database, *, tenant_id: int | None = None) -> int:
    """Give every dead job (of one tenant, or all) a fresh set of attempts, due now."""
    now = clock.now()
    with db.write() as conn:
        result = conn.execute(
            sa.update(enrich_jobs)
            .where(enrich_jobs.c.state == State.DEAD.value, _of_tenant(tenant_id))
            .values(state=State.QUEUED.value, attempts=0, run_at=now, updated_at=now)
        )
    return int(result.rowcount)
