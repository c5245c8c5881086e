"""The Prometheus metrics every layer records into, and the multiprocess set-up they need.

``prometheus_client`` decides at import time whether values live in per-process files (multiprocess
mode, when ``PROMETHEUS_MULTIPROC_DIR`` is set) or in memory. ``chatmem serve`` sets it (see
``chatmem.cli``) before anything imports this module, so that its ``--workers N`` processes and a
scrape of any one of them report one view. Without it (an app built in-process, ``chatmem
worker``) values stay in memory.

No label ever takes a value from a request: routes are templates, methods a fixed set, kinds and
outcomes enums. Ids and text would make every series unique (and leak data to the scraper).
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Latency buckets from 0.5 ms: the hot routes answer in about a millisecond.
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_JOB_SECONDS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUEST_SECONDS = Histogram(
    "chatmem_http_request_duration_seconds",
    "Time from the request's arrival to its last response byte; _count is the request count.",
    ["route", "method", "status"],
    buckets=_LATENCY,
)

DB_POOL_CONNECTIONS = Gauge(
    "chatmem_db_pool_connections",
    "Database connections of the server processes by pool and state (in_use, idle).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
DB_POOL_LIMIT = Gauge(
    "chatmem_db_pool_max_connections",
    "Most connections each pool may open, summed over the server processes.",
    ["pool"],
    multiprocess_mode="livesum",
)

ENRICH_JOBS = Counter(
    "chatmem_enrich_jobs_total",
    "Enrichment jobs settled, by kind and outcome (done, retry, dead, released).",
    ["kind", "outcome"],
)
ENRICH_RUN_SECONDS = Histogram(
    "chatmem_enrich_run_duration_seconds",
    "Time one worker spent running a batch of claimed jobs of one kind.",
    ["kind"],
    buckets=_JOB_SECONDS,
)
ENRICH_PAUSE_SECONDS = Counter(
    "chatmem_enrich_pause_seconds",
    "Time in-server workers paused between batches because requests were coming (CHATMEM_ENRICH_BUSY_SHARE).",
)
EMBEDDINGS = Counter(
    "chatmem_embeddings_total", "Vectors computed and stored, by what they embed.", ["target"]
)
SUMMARIES = Counter("chatmem_summaries_total", "Progressive summaries written.")

PURGE_RUNS = Counter("chatmem_purge_runs_total", "Runs of the periodic purge, by outcome.", ["outcome"])
PURGE_ROWS = Counter(
    "chatmem_purge_removed_total", "Rows the purge hard-deleted, by what they were.", ["what"]
)


def multiprocess_dir() -> Path | None:
    """The directory of this server's per-process metric files, when they are in use in this process."""
    value = os.environ.get(MULTIPROC_ENV)
    # The value class was chosen when prometheus_client was imported: if that happened before the
    # variable was set, this process keeps its values in memory and must be scraped as such.
    if not value or not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return Path(value)
