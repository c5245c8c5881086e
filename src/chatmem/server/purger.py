"""The periodic purge inside the server: a daemon thread, harmless to run in every process."""

from __future__ import annotations

import logging
import threading

from chatmem.base.metrics import PURGE_ROWS, PURGE_RUNS
from chatmem.memory.purge import purge
from chatmem.store import Database

log = logging.getLogger("chatmem.purge")


class PeriodicPurge:
    def __init__(self, db: Database, every_minutes: float) -> None:
        self.db = db
        self.interval = every_minutes * 60
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chatmem-purge", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.run_once()

    def run_once(self) -> None:
        try:
            result = purge(self.db)
        except Exception:  # a failed purge is retried next interval; the server keeps serving
            PURGE_RUNS.labels("error").inc()
            log.exception("purge failed")
            return
        PURGE_RUNS.labels("ok").inc()
        PURGE_ROWS.labels("sessions").inc(result.sessions)
        PURGE_ROWS.labels("messages").inc(result.messages)
        if result.sessions or result.messages:
            log.info("purged %d sessions and %d messages", result.sessions, result.messages)
