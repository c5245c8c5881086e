"""Graceful shutdown: SIGTERM under load loses no acknowledged write and leaves no job claimed; a
worker stopped in the middle of a job hands it back to the queue."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import sqlalchemy as sa

from chatmem.config import Settings
from chatmem.enrich.jobs import Enricher
from chatmem.enrich.queue import Job
from chatmem.enrich.worker import Worker, WorkerPool
from chatmem.memory.messages import add_messages_plan
from chatmem.memory.records import NewMessage
from chatmem.store import Database
from chatmem.store.jobs import Kind
from chatmem.store.tables import DEFAULT_TENANT_ID, enrich_jobs, messages
from tests.compat.process import ChatmemProcess
from tests.support import database_url, migrated

GRACE_SECONDS = 10


def load(url: str, writer: int, acknowledged: list[str], stop: threading.Event) -> None:
    """Append one message at a time on a keep-alive connection until the server goes away."""
    with httpx.Client(base_url=url, timeout=30) as client:
        number = 0
        failures = 0
        while not stop.is_set() and failures < 20:
            content = f"writer {writer} message {number}"
            try:
                response = client.post(
                    f"/api/v1/sessions/shutdown-{writer}/memory",
                    json={"messages": [{"role": "user", "content": content}]},
                )
            except httpx.TransportError:
                failures += 1
                time.sleep(0.02)
                continue
            if response.status_code == 200:
                acknowledged.append(content)
            number += 1


def test_sigterm_under_load_loses_no_acknowledged_append(backend: str, tmp_path: Path) -> None:
    env = {
        "CHATMEM_WORKERS": "2",
        "CHATMEM_ENRICH_WORKERS": "1",
        "CHATMEM_ENRICH_POLL_SECONDS": "0.05",
        "CHATMEM_EMBEDDINGS": "off",
        "CHATMEM_SUMMARIZER": "extractive",
        "CHATMEM_MESSAGE_WINDOW": "4",
        "CHATMEM_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    acknowledged: list[str] = []
    stop = threading.Event()
    with database_url(backend, tmp_path) as url:
        with ChatmemProcess(url, tmp_path, env) as server:
            writers = [
                threading.Thread(target=load, args=(server.url, n, acknowledged, stop), daemon=True)
                for n in range(6)
            ]
            for thread in writers:
                thread.start()
            deadline = time.monotonic() + 60
            while len(acknowledged) < 100 and time.monotonic() < deadline:
                time.sleep(0.05)
            before_signal = len(acknowledged)
            server.send_signal(signal.SIGTERM)
            # Exits on its own within the grace period (the margin covers a loaded machine's start-up
            # of the check, not the server's work); raises TimeoutExpired otherwise.
            status = server.wait(timeout=GRACE_SECONDS + 30)
            stop.set()
            for thread in writers:
                thread.join(timeout=30)
        assert status in (0, -signal.SIGTERM), server.log()
        assert before_signal > 0
        db = Database(url)
        try:
            with db.read() as conn:
                stored = set(conn.execute(sa.select(messages.c.content)).scalars())
                claimed = conn.execute(
                    sa.select(sa.func.count()).where(enrich_jobs.c.state == "running")
                ).scalar_one()
        finally:
            db.dispose()
    assert [content for content in acknowledged if content not in stored] == []
    assert claimed == 0


class BlockingEnricher(Enricher):
    """Holds every job until ``release`` is set, like a slow embedding call."""

    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(db, settings)
        self.started = threading.Event()
        self.release = threading.Event()

    def handle(self, kind: Kind, jobs: Sequence[Job]) -> None:
        self.started.set()
        self.release.wait(timeout=60)
        super().handle(kind, jobs)


def test_a_job_still_running_at_shutdown_goes_back_to_the_queue(backend: str, tmp_path: Path) -> None:
    settings = Settings(enrich_poll_seconds=0.05, embeddings="off", summarizer="off")
    with migrated(backend, tmp_path) as db:
        db.write_plan(
            add_messages_plan(
                db.dialect_name, DEFAULT_TENANT_ID, "slow-session", [NewMessage(role="user", content="hello")]
            )
        )
        enricher = BlockingEnricher(db, settings)
        pool = WorkerPool(db, settings, 1, enricher=enricher)
        pool.start()
        assert enricher.started.wait(timeout=30)

        assert pool.stop(timeout=0.2) == 1

        with db.read() as conn:
            job = conn.execute(sa.select(enrich_jobs)).mappings().one()
        assert (job["state"], job["claim_token"], job["attempts"]) == ("queued", None, 0)

        # The stopped worker finishes late: its lease is gone, so the job stays queued for the next one.
        enricher.release.set()
        assert pool.wait(timeout=30)
        with db.read() as conn:
            assert conn.execute(sa.select(enrich_jobs.c.state)).scalars().all() == ["queued"]
        assert Worker(db, settings).run_once() == 1
        with db.read() as conn:
            assert conn.execute(sa.select(enrich_jobs.c.state)).scalars().all() == []
