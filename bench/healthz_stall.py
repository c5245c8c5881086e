"""Does a heavy request stall the server? /healthz latency while large writes and reads run, against the
same server idle, measured in one run.

    .venv/bin/python -m bench.healthz_stall --db sqlite|postgres [--rounds 3] [--idle-seconds 3]

One ``chatmem serve`` with its default settings (enrichment workers inside, summarizer on) on a fresh
database. A probe thread asks for /healthz every 10 ms on its own keep-alive connection. Phase ``idle``:
nothing else runs. Phase ``heavy``: another connection appends 4.5 MB (two messages of 2.25 MB, just
under the 5 MiB body limit), reads it back with ``lastn=1000`` and lists the session's messages, over and
over. The target (issue 13) is /healthz under 100 ms while the heavy requests run. Nothing is asserted:
figures go to stdout and bench/results/extra/, docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.dbs import fresh_database
from bench.procs import ServerProcess, chatmem_server
from bench.stats import percentile
from chatmem.store import Database, migrate

RESULTS = Path(__file__).resolve().parent / "results" / "extra"
BIG = "word " * 450_000
PROBE_INTERVAL_SECONDS = 0.01


def _probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            start = time.perf_counter()
            client.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - start)
            time.sleep(PROBE_INTERVAL_SECONDS)


def _heavy_round(api: httpx.Client, session_id: str, timings: dict[str, list[float]]) -> None:
    body = {"messages": [{"role": "human", "content": BIG}, {"role": "ai", "content": BIG}]}
    steps: list[tuple[str, Any]] = [
        ("append 4.5 MB", lambda: api.post(f"/sessions/{session_id}/memory", json=body)),
        ("GET memory lastn=1000", lambda: api.get(f"/sessions/{session_id}/memory", params={"lastn": 1000})),
        ("GET messages", lambda: api.get(f"/sessions/{session_id}/messages")),
    ]
    for name, call in steps:
        start = time.perf_counter()
        call().raise_for_status()
        timings.setdefault(name, []).append(time.perf_counter() - start)


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "probes": len(ordered),
        "p50_ms": percentile(ordered, 0.5) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else 0.0) * 1000,
        "over_100ms": sum(1 for value in ordered if value > 0.1),
    }


def measure(server: ServerProcess, rounds: int, idle_seconds: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{server.port}"
    phases: dict[str, list[float]] = {"idle": [], "heavy": []}
    timings: dict[str, list[float]] = {}
    with httpx.Client(base_url=f"{url}/api/v1", timeout=300) as api:
        for phase in ("idle", "heavy"):
            stop = threading.Event()
            thread = threading.Thread(target=_probe, args=(url, stop, phases[phase]))
            thread.start()
            try:
                if phase == "idle":
                    time.sleep(idle_seconds)
                else:
                    for number in range(rounds):
                        _heavy_round(api, f"heavy-{number}", timings)
            finally:
                stop.set()
                thread.join()
    return {
        "healthz": {phase: _summary(values) for phase, values in phases.items()},
        "heavy_request_seconds": {name: max(values) for name, values in timings.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.healthz_stall", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="heavy rounds (append, read, list)")
    parser.add_argument("--idle-seconds", type=float, default=3.0)
    parser.add_argument(
        "--enrich-workers", type=int, default=1, help="worker threads in the server (the default is 1)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="chatmem-healthz-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        url = stack.enter_context(fresh_database(args.db, work))
        db = Database(url)
        migrate(db)
        db.dispose()
        # The defaults a user runs: enrichment workers in the server, the summarizer on.
        defaults = {"CHATMEM_ENRICH_WORKERS": str(args.enrich_workers), "CHATMEM_MAX_LASTN": "1000"}
        server = stack.enter_context(chatmem_server(url, 1, work, env=defaults))
        figures = measure(server, args.rounds, args.idle_seconds)

    command = " ".join(["python -m bench.healthz_stall", *(argv if argv is not None else sys.argv[1:])])
    started = dt.datetime.now(dt.UTC)
    result = {"command": command, "db": args.db, "started": started.isoformat(timespec="seconds"), **figures}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"healthz-stall-{args.db}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{command}")
    print(f"{'phase':>8}{'probes':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'>100 ms':>9}")
    for phase, row in figures["healthz"].items():
        print(
            f"{phase:>8}{row['probes']:>8}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{row['max_ms']:>9.1f}{row['over_100ms']:>9}"
        )
    for name, seconds in figures["heavy_request_seconds"].items():
        print(f"slowest {name}: {seconds * 1000:.0f} ms")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
