"""What ``GET /metrics`` answers: the recorded metrics of every server process, plus what is measured
when scraped (the enrichment queue, the processes themselves).

Under ``chatmem serve`` the values of all worker processes are read from their files
(``chatmem.base.metrics``), so whichever process answers, the scrape is the same; but each process
folds its requests into the request histogram within a second (``chatmem.server.request_metrics``), so
the latest requests of the other processes may show up to a second late. Process metrics
(``process_*``) are then summed over the live server processes, read from ``/proc`` by pid; the
queue gauges come from one query against the database, which holds the one queue every process shares.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, ProcessCollector, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chatmem.base.metrics import DB_POOL_CONNECTIONS, DB_POOL_LIMIT, multiprocess_dir
from chatmem.enrich import queue
from chatmem.server.request_metrics import REQUESTS
from chatmem.store import Database

_PID_FILE = re.compile(r"_(\d+)\.db$")


class QueueCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        status = queue.status(self.db, dead_limit=0)
        jobs = GaugeMetricFamily(
            "chatmem_enrich_queue_jobs",
            "Jobs in the enrichment queue by kind and state.",
            labels=["kind", "state"],
        )
        for kind in status.kinds:
            for state, count in (("queued", kind.queued), ("running", kind.running), ("dead", kind.dead)):
                jobs.add_metric([kind.kind, state], count)
        yield jobs
        yield GaugeMetricFamily(
            "chatmem_enrich_queue_depth", "Jobs waiting or running (not dead).", value=status.depth
        )
        yield GaugeMetricFamily(
            "chatmem_enrich_oldest_job_age_seconds",
            "Age of the oldest job that is not dead: how far behind enrichment is.",
            value=status.lag_seconds,
        )
        yield GaugeMetricFamily(
            "chatmem_enrich_dead_jobs",
            "Jobs that failed every attempt (chatmem queue retry-dead).",
            value=status.dead,
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_pids(directory: Path) -> list[int]:
    """The server processes that wrote metric files and still run; the files of live gauges of those
    that died are removed (their in-use connections, say, are gone with them)."""
    pids = {int(m[1]) for f in os.listdir(directory) if (m := _PID_FILE.search(f))}
    live = []
    for pid in sorted(pids):
        if _alive(pid):
            live.append(pid)
        else:
            multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return live


class ProcessesCollector(Collector):
    """``process_*`` summed over the live server processes (the start time: the earliest)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, float] = {}
        pids = live_pids(self.directory)
        for pid in pids:
            for family in ProcessCollector(pid=functools.partial(int, pid), registry=None).collect():
                value = family.samples[0].value
                previous = values.get(family.name)
                families.setdefault(family.name, family)
                if previous is None:
                    values[family.name] = value
                elif family.name == "process_start_time_seconds":
                    values[family.name] = min(previous, value)
                elif family.name == "process_max_fds":
                    values[family.name] = max(previous, value)
                else:
                    values[family.name] = previous + value
        for name, family in families.items():
            kind = CounterMetricFamily if family.type == "counter" else GaugeMetricFamily
            yield kind(name, family.documentation, value=values[name])
        yield GaugeMetricFamily("chatmem_server_processes", "Live server processes.", value=len(pids))


def render(db: Database) -> bytes:
    """The text exposition of one scrape (this process's pending request observations folded first)."""
    REQUESTS.fold()
    extra = CollectorRegistry(auto_describe=False)
    extra.register(QueueCollector(db))
    directory = multiprocess_dir()
    if directory is None:
        return generate_latest(REGISTRY) + generate_latest(extra)
    multiprocess.MultiProcessCollector(extra, str(directory))  # type: ignore[no-untyped-call]
    extra.register(ProcessesCollector(directory))
    return generate_latest(extra)


class PoolSampler:
    """Writes this process's connection pool use into its gauges every ``interval`` seconds: a scrape
    reaches one process, the gauges of all are in the files."""

    def __init__(self, db: Database, interval: float = 2.0) -> None:
        self.db = db
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chatmem-pool-sampler", daemon=True)

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def sample(self) -> None:
        for pool, in_use, idle, most in self.db.pool_usage():
            DB_POOL_CONNECTIONS.labels(pool, "in_use").set(in_use)
            DB_POOL_CONNECTIONS.labels(pool, "idle").set(idle)
            DB_POOL_LIMIT.labels(pool).set(most)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
