"""The purge racing appends, deletes and the enrichment workers on PostgreSQL never deadlocks: every
transaction takes a session's row first, in id order (docs/limits.md). Before that, ingest took it last
(through a job insert's foreign key) and 2 runs in 4 ended with the purge aborted by a deadlock."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatmem.base.errors import NotFoundError
from chatmem.config import Settings
from chatmem.enrich import queue
from chatmem.enrich.queue import Job
from chatmem.enrich.worker import WorkerPool
from chatmem.memory import messages, sessions
from chatmem.memory.purge import purge
from chatmem.memory.records import NewMessage
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT_ID
from tests.support import migrated

ROUNDS = 200
SESSIONS = [f"race-{n}" for n in range(8)]


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Database]:
    with migrated("postgres", tmp_path) as db:
        yield db


@pytest.mark.timeout(400)
def test_purge_racing_appends_deletes_and_workers_never_deadlocks(pg: Database) -> None:
    settings = Settings(
        database_url=pg.url.render_as_string(hide_password=False),
        embeddings="off",
        summarizer="extractive",
        message_window=4,
        enrich_poll_seconds=0.01,
        enrich_batch_size=8,
    )
    failures: list[str] = []

    def observe(job: Job, outcome: str) -> None:
        if outcome != "done":
            failures.append(f"{job.kind} {outcome}")

    pool = WorkerPool(pg, settings, 2, observer=observe)
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                sid = rng.choice(SESSIONS)
                if rng.random() < 0.25:
                    with contextlib.suppress(NotFoundError):
                        pg.write_plan(sessions.delete_session_plan(DEFAULT_TENANT_ID, sid))
                else:
                    batch = [
                        NewMessage(role="h", content=f"m{rng.random()}.") for _ in range(rng.randint(1, 4))
                    ]
                    pg.write_plan(messages.add_messages_plan(pg.dialect_name, DEFAULT_TENANT_ID, sid, batch))
                stop.wait(0.005)  # keeps the sessions short, so a round stays cheap
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=churn, args=(seed,)) for seed in range(3)]
    pool.start()
    for thread in writers:
        thread.start()
    try:
        for _ in range(ROUNDS):
            purge(pg, batch=3)  # small batches: many transactions, many chances to collide
    finally:
        stop.set()
        for thread in writers:
            thread.join()
        pool.stop()
    assert errors == []
    assert failures == []
    status = queue.status(pg)
    assert status.dead == 0
