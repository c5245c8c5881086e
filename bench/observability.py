"""What metrics and the JSON access log cost the hot paths: append and GET memory throughput with both
on against both off, measured in the same run.

    .venv/bin/python -m bench.observability --db sqlite|postgres [--rounds 4] [--seconds 8] [--control]
    .venv/bin/python -m bench.observability --middleware

Two ``chatmem serve`` processes run side by side on one database: ``on`` (CHATMEM_METRICS=true,
CHATMEM_LOG_FORMAT=json, CHATMEM_ACCESS_LOG=true: one JSON line per request, to a file) and ``off``
(no metrics, no access log). Each round measures both, in ABBA order so that a drift of the machine's
load hits both alike; the figure per side is the median over the rounds. Server CPU per request is
reported too: on a shared machine it is steadier than throughput. Nothing is asserted; the results
go to bench/results/extra/ and docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

from bench.dbs import fresh_database
from bench.httpload import Request, fetch, run_http
from bench.procs import HOST, ServerProcess, chatmem_server
from bench.stats import Measurement
from chatmem.store import Database, migrate

RESULTS = Path(__file__).resolve().parent / "results" / "extra"
SIDES = {
    "off": {"CHATMEM_METRICS": "false", "CHATMEM_ACCESS_LOG": "false", "CHATMEM_LOG_FORMAT": "text"},
    "on": {"CHATMEM_METRICS": "true", "CHATMEM_ACCESS_LOG": "true", "CHATMEM_LOG_FORMAT": "json"},
}
READ_SESSIONS = 64
READ_SESSION_LENGTH = 24
CONCURRENCY = 16


def _message(index: int) -> bytes:
    text = f"turn {index}: a chat message of ordinary length, about the weather, plans and a recipe."
    return orjson.dumps({"messages": [{"role": "user", "content": text}]})


class Workload:
    def __init__(self) -> None:
        self.count = 0

    def append(self) -> Request:
        self.count += 1
        return Request("POST", f"/api/v1/sessions/obs-append-{self.count % 256}/memory", _message(self.count))

    def read(self) -> Request:
        self.count += 1
        return Request("GET", f"/api/v1/sessions/obs-read-{self.count % READ_SESSIONS}/memory")


def _preload(server: ServerProcess) -> None:
    import asyncio

    async def load() -> None:
        for session in range(READ_SESSIONS):
            for turn in range(READ_SESSION_LENGTH):
                path = f"/api/v1/sessions/obs-read-{session}/memory"
                status, body = await fetch(HOST, server.port, Request("POST", path, _message(turn)))
                assert status == 200, body

    asyncio.run(load())


def _measure(side: str, op: str, server: ServerProcess, seconds: float) -> Measurement:
    workload = Workload()
    make = workload.append if op == "append" else workload.read
    return run_http(
        side,
        op,
        HOST,
        server.port,
        make,
        concurrency=CONCURRENCY,
        max_requests=10**9,
        max_seconds=seconds,
        warmup=200,
        server_cpu=server.cpu_seconds,
    )


def middleware_cost(requests: int = 30_000, repeats: int = 5) -> dict[str, float]:
    """CPU microseconds per request that the observe middleware adds around a trivial ASGI app, in
    multiprocess mode as under ``chatmem serve``: best of ``repeats`` (the least disturbed by other
    processes; the configurations take turns), process CPU time rather than wall time. Each run ends
    as a server's shutdown does, with the pending access lines written and the pending observations
    folded, so that the work done in batches is counted."""
    import asyncio
    import os
    import time

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chatmem-obs-metrics-")
    from chatmem.server.access_log import AccessLog
    from chatmem.server.observe import ObserveMiddleware
    from chatmem.server.request_metrics import REQUESTS

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"OK"})

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", b"x"), (b"accept", b"*/*")]}
    sink = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the measurement

    def cpu_per_request(handler: Any, finish: Any = None) -> float:
        async def drive() -> None:
            for _ in range(requests):
                await handler(scope, receive, send)
            if finish is not None:  # what the server does at shutdown: nothing left unwritten
                finish()

        started = time.process_time()
        asyncio.run(drive())
        return (time.process_time() - started) / requests * 1e6

    def finisher(log: AccessLog | None) -> Any:
        def finish() -> None:
            if log is not None:
                log.flush()
            REQUESTS.close()

        return finish

    handlers: dict[str, tuple[Any, Any]] = {"bare app": (app, None)}
    for name, metrics, access in (
        ("middleware, both off", False, False),
        ("metrics on", True, False),
        ("JSON access log on", False, True),
        ("both on", True, True),
    ):
        log = AccessLog(json=True, stream=sink) if access else None
        handlers[name] = (ObserveMiddleware(app, metrics=metrics, access_log=log), finisher(log))
    # The configurations take turns, so that a burst of load from other processes hits them alike.
    figures = {name: float("inf") for name in handlers}
    for _ in range(repeats):
        for name, (handler, finish) in handlers.items():
            figures[name] = min(figures[name], cpu_per_request(handler, finish))
    sink.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.observability", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="per side, operation and round")
    parser.add_argument(
        "--control",
        action="store_true",
        help="A/A run: the 'on' server runs with everything off too, to show the noise between two servers",
    )
    parser.add_argument(
        "--middleware",
        action="store_true",
        help="only the in-process CPU cost of the middleware per request (no servers, no database)",
    )
    args = parser.parse_args(argv)
    if args.middleware:
        for name, micros in middleware_cost().items():
            print(f"{name:<24}{micros:8.2f} us CPU per request")
        return 0
    sides = {**SIDES, "on": SIDES["off"]} if args.control else SIDES

    runs: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="chatmem-obs-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        url = stack.enter_context(fresh_database(args.db, work))
        db = Database(url)
        migrate(db)
        db.dispose()
        servers = {
            side: stack.enter_context(
                chatmem_server(url, 1, work, env={"CHATMEM_LOG_LEVEL": "info", **env}, name=f"chatmem-{side}")
            )
            for side, env in sides.items()
        }
        _preload(servers["off"])
        for number in range(args.rounds):
            order = ["off", "on"] if number % 2 == 0 else ["on", "off"]
            for op in ("append", "get_memory"):
                for side in order:
                    measurement = _measure(side, op, servers[side], args.seconds)
                    runs.append(measurement)
                    print(
                        f"round {number + 1} {op:<10} {side:<3} {measurement.throughput:8.0f} req/s "
                        f"{measurement.server_cpu_ms or 0:6.3f} ms CPU/req  errors {measurement.errors}",
                        file=sys.stderr,
                        flush=True,
                    )
        access_lines = (work / "chatmem-on.log").read_text().count('"logger":"chatmem.access"')

    summary = {}
    for op in ("append", "get_memory"):
        figures: dict[str, Any] = {}
        for side in SIDES:
            mine = [m for m in runs if m.op == op and m.target == side]
            figures[side] = {
                "throughput": statistics.median(m.throughput for m in mine),
                "server_cpu_ms": statistics.median(m.server_cpu_ms or 0 for m in mine),
                "p50_ms": statistics.median(m.p50_ms for m in mine),
                "errors": sum(m.errors for m in mine),
            }
        figures["on/off throughput"] = figures["on"]["throughput"] / figures["off"]["throughput"]
        figures["on/off CPU per request"] = figures["on"]["server_cpu_ms"] / figures["off"]["server_cpu_ms"]
        summary[op] = figures

    command = " ".join(["python -m bench.observability", *(argv if argv is not None else sys.argv[1:])])
    result = {
        "command": command,
        "control": args.control,
        "db": args.db,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "concurrency": CONCURRENCY,
        "access_log_lines_written": access_lines,
        "summary": summary,
        "runs": [m.to_json() for m in runs],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kind = "observability-control" if args.control else "observability"
    path = RESULTS / f"{kind}-{args.db}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{command}   (median of {args.rounds} rounds, {CONCURRENCY} connections, 1 server process)")
    header = ("operation", "off req/s", "on req/s", "on/off", "off CPU ms", "on CPU ms", "on/off")
    print("".join(f"{h:>12}" for h in header))
    for op, figures in summary.items():
        off, on = figures["off"], figures["on"]
        row = (
            f"{off['throughput']:.0f}",
            f"{on['throughput']:.0f}",
            f"{figures['on/off throughput']:.3f}",
            f"{off['server_cpu_ms']:.3f}",
            f"{on['server_cpu_ms']:.3f}",
            f"{figures['on/off CPU per request']:.3f}",
        )
        print(f"{op:>12}" + "".join(f"{v:>12}" for v in row))
    print(f"access log lines written by the 'on' server: {access_lines}; results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
