"""Workers: threads that claim jobs, run them, and settle them (done, retry later, or dead)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from chatmem.config import Settings
from chatmem.enrich import queue
from chatmem.enrich.jobs import Enricher
from chatmem.enrich.queue import Job
from chatmem.store import Database
from chatmem.store.jobs import Kind, State

log = logging.getLogger("chatmem.enrich")

# Called after a job is settled with "done", "retry" or "dead" (tests and metrics hook in here).
Observer = Callable[[Job, str], None]


class Worker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        enricher: Enricher | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.enricher = enricher or Enricher(db, settings)
        self.observer = observer

    def run_once(self) -> int:
        """Claim one batch of due jobs and run it; returns how many jobs were claimed."""
        jobs = queue.claim(
            self.db, limit=self.settings.enrich_batch_size, lease_seconds=self.settings.enrich_lease_seconds
        )
        by_kind: dict[Kind, list[Job]] = {}
        for job in jobs:
            by_kind.setdefault(job.kind, []).append(job)
        for kind, group in by_kind.items():
            self._run(kind, group)
        return len(jobs)

    def _run(self, kind: Kind, jobs: Sequence[Job]) -> None:
        try:
            self.enricher.handle(kind, jobs)
        except Exception as exc:
            if len(jobs) > 1:
                # Run them one by one, so a single poisonous job does not take its batch down with it.
                for job in jobs:
                    self._run(kind, [job])
                return
            self._fail(jobs[0], exc)
            return
        for job in jobs:
            self._observe(job, "done")

    def _fail(self, job: Job, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        state = queue.fail(
            self.db,
            job,
            error,
            max_attempts=self.settings.enrich_max_attempts,
            retry_base=self.settings.enrich_retry_seconds,
            retry_cap=self.settings.enrich_retry_max_seconds,
        )
        if state is State.DEAD:
            log.error("%s job %s is dead after %d attempts: %s", job.kind, job.id, job.attempts, error)
            self._observe(job, "dead")
        else:
            log.warning(
                "%s job %s failed (attempt %d), will retry: %s", job.kind, job.id, job.attempts, error
            )
            self._observe(job, "retry")

    def _observe(self, job: Job, outcome: str) -> None:
        if self.observer is not None:
            self.observer(job, outcome)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; poll when idle. Errors (a database restart, say) are logged and
        retried after the poll interval: a worker never dies of them."""
        while not stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("enrichment worker error")
                claimed = 0
            if not claimed:
                stop.wait(self.settings.enrich_poll_seconds)


class WorkerPool:
    """``threads`` workers in this process sharing one Enricher (one loaded model)."""

    def __init__(
        self, db: Database, settings: Settings, threads: int, *, observer: Observer | None = None
    ) -> None:
        enricher = Enricher(db, settings)
        self.workers = [Worker(db, settings, enricher=enricher, observer=observer) for _ in range(threads)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=w.run, args=(self._stop,), name=f"chatmem-enrich-{i}", daemon=True)
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=timeout)

    def wait(self) -> None:
        """Block until stopped (the ``chatmem worker`` main thread)."""
        for thread in self._threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
