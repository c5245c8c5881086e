"""The write path as a user runs it: ``chatmem serve`` with its default settings (enrichment workers
inside, token counts, embeddings and the extractive summarizer on) under 32 concurrent clients, each
appending one message to one of 200 sessions, side by side with floors measured in the same run.

    .venv/bin/python -m bench.write_path --db sqlite|postgres [--baseline ../old-checkout] [--rounds 2]
                                          [--seconds 6]

Targets, each a fresh database, one server process:

- ``chatmem``: this checkout, default settings.
- ``chatmem-no-group`` (SQLite): the same with ``CHATMEM_GROUP_COMMIT=false``: what group commit buys.
- ``chatmem-no-enrich``: the same with no enrichment workers in the server: what enrichment costs.
- ``baseline`` (with ``--baseline``): the server of another checkout (its ``src/``), default settings.
- ``noop``: FastAPI with chatmem's middleware answering the same requests with canned bodies and no work
  (bench/floors.py floor 1): the ceiling of any server on this stack.
- ``parse``: a no-work FastAPI app with plain routes that parses the body into a pydantic model (floor 4):
  the floor the append's target is stated against (at least 0.4x).
- ``naive``: plain FastAPI routes with a pydantic body, one INSERT and COMMIT per request on
  sqlite3/psycopg (floor 3): what a user would write instead.

Operations: ``append`` (32 clients), ``get_memory`` (32 clients, 12 messages of 24 in 64 sessions),
``append_c1`` (one client: the latency group commit must not worsen). Each round measures every target
in turn, the order reversed every other round, with the other servers stopped (SIGSTOP) meanwhile so
that their enrichment backlogs do not take the cores; a figure is the median over rounds. Nothing is asserted;
results go to bench/results/extra/ and docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.dbs import fresh_database
from bench.httpload import Request, fetch, run_http
from bench.procs import HOST, ServerProcess, chatmem_server, floor_server
from bench.stats import Measurement
from chatmem.config import Settings
from chatmem.store import Database, migrate

RESULTS = Path(__file__).resolve().parent / "results" / "extra"
SESSIONS = 200
READ_SESSIONS = 64
READ_LENGTH = 24
CONCURRENCY = 32
# chatmem's defaults, which bench/procs.py turns off for the hot-path benches.
DEFAULTS = {
    "CHATMEM_ENRICH_WORKERS": str(Settings.model_fields["enrich_workers"].default),
    "CHATMEM_EMBEDDINGS_PRELOAD": str(Settings.model_fields["embeddings_preload"].default).lower(),
}
OPS = ("append", "get_memory", "append_c1")


def _message(index: int) -> bytes:
    text = f"turn {index}: a chat message of ordinary length, about the weather, plans and a recipe."
    return orjson.dumps({"messages": [{"role": "human", "content": text}]})


class Workload:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0

    def append(self) -> Request:
        self.count += 1
        path = f"/api/v1/sessions/{self.prefix}-{self.count % SESSIONS}/memory"
        return Request("POST", path, _message(self.count))

    def read(self) -> Request:
        self.count += 1
        return Request("GET", f"/api/v1/sessions/read-{self.count % READ_SESSIONS}/memory?lastn=12")


def _preload(server: ServerProcess) -> None:
    async def load() -> None:
        for session in range(READ_SESSIONS):
            for turn in range(READ_LENGTH):
                path = f"/api/v1/sessions/read-{session}/memory"
                status, body = await fetch(HOST, server.port, Request("POST", path, _message(turn)))
                assert status == 200, body

    asyncio.run(load())


@contextmanager
def _paused(servers: list[ServerProcess]) -> Iterator[None]:
    """SIGSTOP the servers (and their children) for the block."""
    processes: list[psutil.Process] = []
    for server in servers:
        root = psutil.Process(server.pid)
        processes += [root, *root.children(recursive=True)]
    for process in processes:
        process.suspend()
    try:
        yield
    finally:
        for process in processes:
            process.resume()


def _baseline_server(src: Path, url: str, log_dir: Path) -> ServerProcess:
    argv = [sys.executable, "-c", "from chatmem.cli import main; main()", "serve", "--database-url", url]
    argv += ["--host", HOST, "--port", "{port}", "--workers", "1"]
    env = {
        "PYTHONPATH": str(src),
        "CHATMEM_LOG_LEVEL": "warning",
        "CHATMEM_PURGE_EVERY_MINUTES": "0",
        # Nothing else: the other checkout runs with its own defaults (bca420f: one worker thread).
    }
    return ServerProcess("baseline", argv, env, log_dir)


def _measure(name: str, op: str, server: ServerProcess, seconds: float, round_number: int) -> Measurement:
    workload = Workload(f"w{round_number}")
    make = workload.read if op == "get_memory" else workload.append
    return run_http(
        name,
        op,
        HOST,
        server.port,
        make,
        concurrency=1 if op == "append_c1" else CONCURRENCY,
        max_requests=10**9,
        max_seconds=seconds,
        warmup=50,
        server_cpu=server.cpu_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.write_path", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--baseline", type=Path, help="another checkout whose server is measured too")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="per target, operation and round")
    args = parser.parse_args(argv)

    runs: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="chatmem-write-") as tmp, ExitStack() as stack:
        work = Path(tmp)

        def database() -> str:
            url = stack.enter_context(fresh_database(args.db, work))
            db = Database(url)
            migrate(db)
            db.dispose()
            return url

        servers: dict[str, ServerProcess] = {
            "chatmem": chatmem_server(database(), 1, work, env=DEFAULTS, name="chatmem"),
        }
        if args.db == "sqlite":
            no_group = {**DEFAULTS, "CHATMEM_GROUP_COMMIT": "false"}
            servers["chatmem-no-group"] = chatmem_server(database(), 1, work, env=no_group, name="no-group")
        no_enrich = {**DEFAULTS, "CHATMEM_ENRICH_WORKERS": "0"}
        servers["chatmem-no-enrich"] = chatmem_server(database(), 1, work, env=no_enrich, name="no-enrich")
        if args.baseline is not None:
            # The baseline migrates its own database: its schema may be older than this checkout's.
            url = stack.enter_context(fresh_database(args.db, work))
            servers["baseline"] = _baseline_server(args.baseline.resolve() / "src", url, work)
        servers["noop"] = floor_server("noop", database(), 1, work)
        servers["parse"] = floor_server("parse", database(), 1, work)
        servers["naive"] = floor_server("naive", database(), 1, work)
        for server in servers.values():
            stack.enter_context(server)
        for server in servers.values():
            _preload(server)

        names = list(servers)
        for number in range(args.rounds):
            order = names if number % 2 == 0 else names[::-1]
            for op in OPS:
                for name in order:
                    # The others are stopped meanwhile: their enrichment workers would otherwise work
                    # off their backlog on the cores the measured server needs.
                    with _paused([server for other, server in servers.items() if other != name]):
                        measurement = _measure(name, op, servers[name], args.seconds, number)
                    runs.append(measurement)
                    print(
                        f"round {number + 1} {op:<10} {name:<18} {measurement.throughput:8.0f} req/s "
                        f"p50 {measurement.p50_ms:6.2f} ms  errors {measurement.errors}",
                        file=sys.stderr,
                        flush=True,
                    )

    summary: dict[str, dict[str, Any]] = {}
    for op in OPS:
        summary[op] = {}
        for name in names:
            mine = [m for m in runs if m.op == op and m.target == name]
            summary[op][name] = {
                "throughput": statistics.median(m.throughput for m in mine),
                "p50_ms": statistics.median(m.p50_ms for m in mine),
                "p99_ms": statistics.median(m.p99_ms for m in mine),
                "errors": sum(m.errors for m in mine),
            }

    command = " ".join(["python -m bench.write_path", *(argv if argv is not None else sys.argv[1:])])
    load = os.getloadavg()
    started = dt.datetime.now(dt.UTC)
    result = {
        "command": command,
        "db": args.db,
        "started": started.isoformat(timespec="seconds"),
        "load_average": load,
        "summary": summary,
        "runs": [m.to_json() for m in runs],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"write-path-{args.db}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{command}   (median of {args.rounds} rounds; load average {load[0]:.1f})")
    print(f"{'target':<20}" + "".join(f"{op + ' req/s':>18}{'p50 ms':>9}" for op in OPS))
    for name in names:
        row = "".join(
            f"{summary[op][name]['throughput']:>18.0f}{summary[op][name]['p50_ms']:>9.2f}" for op in OPS
        )
        print(f"{name:<20}{row}")
    noop = summary["append"]["noop"]["throughput"]
    parse = summary["append"]["parse"]["throughput"]
    for name in names:
        figures = summary["append"][name]
        print(f"append {name:<18} {figures['throughput'] / noop:5.2f}x noop", end="")
        print(f"   {figures['throughput'] / parse:5.2f}x parse", end="")
        if "baseline" in names:
            print(
                f"   {figures['throughput'] / summary['append']['baseline']['throughput']:5.2f}x baseline",
                end="",
            )
        print()
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
