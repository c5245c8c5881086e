"""Workers: threads that claim jobs, run them, and settle them (done, retry later, or dead)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence

from chatmem.base.activity import RequestActivity
from chatmem.base.metrics import ENRICH_JOBS, ENRICH_PAUSE_SECONDS, ENRICH_RUN_SECONDS
from chatmem.config import Settings
from chatmem.enrich import queue, tokens
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
        # The claimed jobs not yet run to the end: released to the queue if the worker is stopped first.
        self.held: Sequence[Job] = ()

    def run_once(self) -> int:
        """Claim one batch of due jobs and run it; returns how many jobs were claimed."""
        jobs = queue.claim(
            self.db, limit=self.settings.enrich_batch_size, lease_seconds=self.settings.enrich_lease_seconds
        )
        by_kind: dict[Kind, list[Job]] = {}
        for job in jobs:
            by_kind.setdefault(job.kind, []).append(job)
        pending = list(jobs)
        for kind, group in by_kind.items():
            self.held = pending
            self._run(kind, group)
            pending = [job for job in pending if job.kind != kind]
        self.held = ()
        return len(jobs)

    def _run(self, kind: Kind, jobs: Sequence[Job]) -> None:
        started = time.perf_counter()
        try:
            self.enricher.handle(kind, jobs)
        except Exception as exc:
            failed: Exception | None = exc
        else:
            failed = None
        ENRICH_RUN_SECONDS.labels(kind.value).observe(time.perf_counter() - started)
        if failed is None:
            for job in jobs:
                self._observe(job, "done")
        elif len(jobs) > 1:
            # Run them one by one, so a single poisonous job does not take its batch down with it.
            for job in jobs:
                self._run(kind, [job])
        else:
            self._fail(jobs[0], failed)

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
        ENRICH_JOBS.labels(job.kind.value, outcome).inc()
        if self.observer is not None:
            self.observer(job, outcome)

    def run(
        self,
        stop: threading.Event,
        *,
        nice: int = 0,
        activity: RequestActivity | None = None,
        busy_share: float = 1.0,
    ) -> None:
        """Work until ``stop`` is set; poll when idle. Errors (a database restart, say) are logged and
        retried after the poll interval: a worker never dies of them. ``nice`` lowers this thread's
        CPU priority (Linux; a no-op elsewhere). With ``activity`` (a worker inside a server), each
        batch is followed by a pause in proportion to the time requests were in flight during it, so
        that while requests keep the server busy the worker works at most ``busy_share`` of the time,
        and a trickle of requests barely slows it (``pause_after``)."""
        if nice:
            lower_priority(nice)
        while not stop.is_set():
            started = time.monotonic()
            busy_before = activity.busy_seconds() if activity is not None else 0.0
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("enrichment worker error")
                claimed = 0
            if not claimed:
                stop.wait(self.settings.enrich_poll_seconds)
            elif activity is not None:
                busy = activity.busy_seconds() - busy_before
                pause = pause_after(time.monotonic() - started, busy, busy_share)
                if pause > 0:
                    ENRICH_PAUSE_SECONDS.inc(pause)
                    stop.wait(pause)


# The longest pause after one batch: a batch slowed to a crawl by load still leaves room for the next
# one within this, so enrichment never stops while requests keep coming.
MAX_PAUSE_SECONDS = 10.0


def pause_after(worked: float, busy: float, busy_share: float) -> float:
    """The pause after a batch that took ``worked`` seconds, during ``busy`` of which requests were in
    flight: with the server busy throughout, the pause that leaves the worker ``busy_share`` of the wall
    time (worked / (worked + pause) = busy_share); less in proportion to the busy time (one request a
    second during a one-second batch is no reason to wait).

    Why a pause and not only a nice value: nice lowers the worker thread's CPU priority, but on
    PostgreSQL most of a batch's cost is the statements it runs in the database's own backend
    processes, at their normal priority; there the niced worker still cut the appends by a third
    (docs/benchmarks.md, "Write path"). Pausing between batches lowers the worker's claim on both.
    """
    if busy_share >= 1 or busy <= 0:
        return 0.0
    return min(min(busy, worked) * (1 - busy_share) / busy_share, MAX_PAUSE_SECONDS)


def lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux keeps one per thread).

    Inside a server process the workers share two cores with the requests. At equal priority the
    embedding model took a whole core from the appends (docs/benchmarks.md, "Write path"); niced, the
    workers use what the requests leave, and catch up when traffic pauses.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + nice)
    except OSError as exc:  # e.g. a sandbox that forbids it: run at normal priority
        log.warning("could not lower the enrichment workers' priority: %s", exc)


def _thread_share(pool_share: float, threads: int) -> float:
    """The share is the pool's: each of n threads takes 1/n of it (and 1, no pauses, stays 1)."""
    return 1.0 if pool_share >= 1 else pool_share / max(1, threads)


class WorkerPool:
    """``threads`` workers in this process sharing one Enricher (one loaded model)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        threads: int,
        *,
        observer: Observer | None = None,
        enricher: Enricher | None = None,
        activity: RequestActivity | None = None,
    ) -> None:
        """``activity``: the requests of the server this pool runs in; given, the workers pause
        between batches while requests come (``Worker.run``). ``chatmem worker`` has none."""
        enricher = enricher or Enricher(db, settings)
        self.db = db
        self.settings = settings
        self.workers = [Worker(db, settings, enricher=enricher, observer=observer) for _ in range(threads)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=w.run,
                args=(self._stop,),
                kwargs={
                    "nice": settings.enrich_nice,
                    "activity": activity,
                    "busy_share": _thread_share(settings.enrich_busy_share, threads),
                },
                name=f"chatmem-enrich-{i}",
                daemon=True,
            )
            for i, w in enumerate(self.workers)
        ]

    def start(self) -> None:
        if self._threads and self.settings.token_counts:
            # Built here, before the server takes requests: building it on a worker thread mid-traffic
            # held the GIL long enough to stall the event loop (bench/healthz_stall.py).
            tokens.encoding()
        for thread in self._threads:
            thread.start()

    def drain(self) -> None:
        """Claim nothing more; each worker finishes the batch in hand, then stops."""
        self._stop.set()

    def stop(self, timeout: float = 30) -> int:
        """Drain, wait up to ``timeout`` seconds in all for the workers, then release the jobs that
        the ones still busy hold (they become due again at once, for this or another process).
        Returns how many jobs were released."""
        self.drain()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        busy = [w for w, thread in zip(self.workers, self._threads, strict=True) if thread.is_alive()]
        held = [job for worker in busy for job in worker.held]
        if not held:
            return 0
        released = queue.release(self.db, held)
        for job in held:
            ENRICH_JOBS.labels(job.kind.value, "released").inc()
        log.warning("released %d enrichment job(s) still running at shutdown to the queue", released)
        return released

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every worker to stop; True when they all have."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)
