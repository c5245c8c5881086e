"""In-server enrichment workers yield to requests (CHATMEM_ENRICH_BUSY_SHARE): after a batch they pause in
proportion to the time requests were in flight during it, so that under traffic they take a bounded share
of the time, a trickle of requests does not slow them, and they still finish the work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from chatmem.base.activity import RequestActivity
from chatmem.config import Settings
from chatmem.enrich.worker import MAX_PAUSE_SECONDS, Worker, pause_after
from chatmem.store import Database
from chatmem.store.tables import enrich_jobs
from tests.enrich.conftest import FAST, rows, wait_for
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]


def paused_seconds() -> float:
    return REGISTRY.get_sample_value("chatmem_enrich_pause_seconds_total") or 0.0


def test_the_pause_gives_the_worker_its_share_of_a_busy_servers_time() -> None:
    assert pause_after(1.0, 1.0, 0.2) == pytest.approx(4.0)  # busy throughout: worked 1 s of 5
    assert pause_after(0.3, 0.3, 0.5) == pytest.approx(0.3)
    assert pause_after(1.0, 0.5, 0.2) == pytest.approx(2.0)  # requests in flight half the time
    assert pause_after(1.0, 0.0, 0.2) == 0.0  # no request: no pause
    assert pause_after(1.0, 1.0, 1.0) == 0.0  # share 1: never pauses
    # A crawling batch still leaves room for the next.
    assert pause_after(60.0, 60.0, 0.2) == MAX_PAUSE_SECONDS


class _Waits(threading.Event):
    """A stop event that records what the worker waits for."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


class _Batches(Worker):
    """A worker whose batches take ``seconds`` each, with a request in flight for ``busy`` of each."""

    def __init__(
        self, db: Database, activity: RequestActivity, *, busy: float, seconds: float, stop: _Waits
    ) -> None:
        super().__init__(db, Settings(enrich_poll_seconds=0.5))
        self.activity, self.busy, self.seconds, self.stop = activity, busy, seconds, stop
        self.batches = 0

    def run_once(self) -> int:
        idle = self.seconds * (1 - self.busy)
        time.sleep(idle)
        if self.busy:
            self.activity.began()
            time.sleep(self.seconds - idle)
            self.activity.ended()
        self.batches += 1
        if self.batches == 3:
            self.stop.set()
        return 1


@pytest.mark.parametrize("busy", [1.0, 0.0], ids=["requests-throughout", "no-requests"])
def test_a_worker_pauses_after_a_batch_in_proportion_to_the_requests_in_flight(
    busy: float, tmp_path: Path
) -> None:
    activity, stop = RequestActivity(), _Waits()
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    worker = _Batches(db, activity, busy=busy, seconds=0.05, stop=stop)
    worker.run(stop, activity=activity, busy_share=0.25)
    assert worker.batches == 3
    if busy:
        assert len(stop.waits) == 3
        # Three times the batch (a quarter of the time), the request having covered nearly all of it.
        assert all(wait >= 2 * 0.05 for wait in stop.waits), stop.waits
    else:
        assert stop.waits == []  # claims the next batch at once


def test_a_request_still_in_flight_counts_as_busy_time() -> None:
    activity = RequestActivity()
    activity.began()
    time.sleep(0.02)
    assert activity.busy_seconds() >= 0.02
    activity.began()  # a second request overlapping the first adds no time of its own
    activity.ended()
    activity.ended()
    settled = activity.busy_seconds()
    time.sleep(0.02)
    assert activity.busy_seconds() == settled  # idle: the clock stopped


def test_probes_and_scrapes_are_not_traffic_but_api_requests_are(fresh_server: Server, sid: str) -> None:
    with fresh_server(**{**FAST, "enrich_workers": 0}) as server, server.client() as http:
        activity: RequestActivity = server.app.state.activity
        before = activity.busy_seconds()
        for path in ("/healthz", "/readyz", "/metrics"):
            http.get(path)
        assert activity.busy_seconds() == before
        assert http.get(f"/api/v1/sessions/{sid}/memory").status_code == 200  # Zep: empty memory
        assert activity.busy_seconds() > before


def test_workers_pause_under_traffic_and_still_drain_the_queue(fresh_server: Server) -> None:
    settings = {**FAST, "enrich_batch_size": 2, "enrich_busy_share": 0.5}
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        before = paused_seconds()
        done = threading.Event()

        def traffic() -> None:
            while not done.is_set():
                api.get("/sessions/nobody/memory")

        reader = threading.Thread(target=traffic)
        reader.start()
        try:
            for i in range(40):
                body = {"messages": [{"role": "human", "content": f"message number {i}"}]}
                assert api.post(f"/sessions/s-{i % 8}/memory", json=body).status_code == 200
            wait_for(lambda: not rows(server.db, sa.select(enrich_jobs.c.id)), what="an empty queue")
        finally:
            done.set()
            reader.join()
        assert paused_seconds() > before
        counted = rows(server.db, sa.text("SELECT count(*) AS n FROM messages WHERE token_count > 0"))[0]["n"]
        assert counted == 40
