"""The hot paths side by side: ``chatmem serve`` processes that differ in one thing, measured in one run.

    .venv/bin/python -m bench.compare auth --db sqlite|postgres [--rounds 6] [--seconds 5]
    .venv/bin/python -m bench.compare code --db sqlite|postgres --before REV [--rounds 6] [--seconds 5]

``auth``: three servers on one database holding 10,000 API keys: auth off, a second auth-off server
(``off-again``: the A/A noise floor of this machine right now) and auth on, where every request
carries a writer key (auth off is sent the same header and ignores it). ``python -m bench run --auth
compare`` runs the same measurement inside a benchmark run, on its loaded database.

``code``: this tree's code against git revision REV's (``git archive`` into a temporary directory, run
by the same interpreter and libraries), each on a database of its own (their schemas may differ), plus
a second server of this tree on its database (the A/A floor).

Every round measures each side on append (one message) and GET memory with 16 connections, the
sides in a rotated order so that a drift of the machine's load hits them alike; each figure is the
median over the rounds: throughput, and the server's CPU per request (steadier than throughput on a
shared machine). Ratios are against the first side. Nothing is asserted; results go to
bench/results/extra/ and docs/benchmarks.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.dbs import fresh_database
from bench.httpload import Request, fetch, run_http
from bench.procs import HOST, ServerProcess, chatmem_server
from bench.stats import Measurement

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "extra"
READ_SESSIONS = 64
READ_SESSION_LENGTH = 24
CONCURRENCY = 16
OPS = ("append", "get_memory")
Log = Callable[[str], None]


@dataclass
class Side:
    """One server: its name, database, settings, and the credential its requests carry."""

    name: str
    url: str
    env: dict[str, str] = field(default_factory=dict)
    headers: tuple[bytes, ...] = ()
    # The database is filled through this side's server (one side per database does it).
    preload: bool = False


def _message(index: int) -> bytes:
    text = f"turn {index}: a chat message of ordinary length, about the weather, plans and a recipe."
    return orjson.dumps({"messages": [{"role": "user", "content": text}]})


class _Workload:
    def __init__(self) -> None:
        self.count = 0

    def append(self) -> Request:
        self.count += 1
        return Request("POST", f"/api/v1/sessions/cmp-append-{self.count % 256}/memory", _message(self.count))

    def read(self) -> Request:
        self.count += 1
        return Request("GET", f"/api/v1/sessions/cmp-read-{self.count % READ_SESSIONS}/memory")


def _preload(server: ServerProcess, headers: Sequence[bytes]) -> None:
    async def load() -> None:
        for session in range(READ_SESSIONS):
            for turn in range(READ_SESSION_LENGTH):
                path = f"/api/v1/sessions/cmp-read-{session}/memory"
                status, body = await fetch(HOST, server.port, Request("POST", path, _message(turn)), headers)
                assert status == 200, body

    asyncio.run(load())


def measure(sides: list[Side], work: Path, *, rounds: int, seconds: float, log: Log) -> dict[str, Any]:
    """Start the sides' servers, fill their databases, measure them in rotated rounds; the summary and
    every measurement."""
    runs: list[Measurement] = []
    with ExitStack() as stack:
        servers = {
            side.name: stack.enter_context(
                chatmem_server(side.url, 1, work, env=side.env, name=f"cmp-{side.name}")
            )
            for side in sides
        }
        for side in sides:
            if side.preload:
                _preload(servers[side.name], side.headers)
        names = [side.name for side in sides]
        by_name = {side.name: side for side in sides}
        for number in range(rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            for op in OPS:
                for name in order:
                    workload = _Workload()
                    server = servers[name]
                    m = run_http(
                        name,
                        op,
                        HOST,
                        server.port,
                        workload.append if op == "append" else workload.read,
                        concurrency=CONCURRENCY,
                        max_requests=10**9,
                        max_seconds=seconds,
                        warmup=100,
                        server_cpu=server.cpu_seconds,
                        headers=by_name[name].headers,
                    )
                    runs.append(m)
                    log(
                        f"round {number + 1} {op:<10} {name:<10} {m.throughput:8.0f} req/s "
                        f"{m.server_cpu_ms or 0:6.3f} ms CPU/req  errors {m.errors}"
                        + (f" first: {m.first_error}" if m.errors else "")
                    )
    return {"summary": summarize(names, runs), "runs": [m.to_json() for m in runs]}


def summarize(names: list[str], runs: list[Measurement]) -> dict[str, Any]:
    """Per operation and side, the medians over rounds; per side after the first, its ratios to it."""
    summary: dict[str, Any] = {}
    base = names[0]
    for op in OPS:
        figures: dict[str, Any] = {}
        for name in names:
            mine = [m for m in runs if m.op == op and m.target == name]
            figures[name] = {
                "throughput": statistics.median(m.throughput for m in mine),
                "server_cpu_ms": statistics.median(m.server_cpu_ms or 0 for m in mine),
                "p50_ms": statistics.median(m.p50_ms for m in mine),
                "errors": sum(m.errors for m in mine),
            }
        for name in names[1:]:
            figures[f"{name}/{base} throughput"] = figures[name]["throughput"] / figures[base]["throughput"]
            figures[f"{name}/{base} CPU per request"] = (
                figures[name]["server_cpu_ms"] / figures[base]["server_cpu_ms"]
            )
        summary[op] = figures
    return summary


def auth_sides(url: str, work: Path, *, stored_keys: int) -> list[Side]:
    """off, off-again and on, on ``url`` (migrated); ``stored_keys`` keys are added first."""
    from bench.auth_overhead import store_keys
    from chatmem.access import keys
    from chatmem.access.roles import Role
    from chatmem.store import Database

    db = Database(url)
    try:
        store_keys(db, stored_keys)
        key = keys.create_key(db, "default", Role.WRITER, "bench").key
    finally:
        db.dispose()
    credential = (f"Authorization: Bearer {key}".encode(),)
    return [
        Side("off", url, {"CHATMEM_AUTH": "off"}, credential, preload=True),
        Side("off-again", url, {"CHATMEM_AUTH": "off"}, credential),
        Side("on", url, {"CHATMEM_AUTH": "on"}, credential),
    ]


def _export(revision: str, into: Path) -> Path:
    """The source tree of ``revision`` (its ``src``, which goes first on PYTHONPATH)."""
    archive = into / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "before", filter="data")
    return into / "before" / "src"


def _migrate(url: str, env: dict[str, str]) -> None:
    chatmem = Path(sys.executable).parent / "chatmem"
    subprocess.run([str(chatmem), "migrate", "--database-url", url], env={**os.environ, **env}, check=True)


def _table(title: str, summary: dict[str, Any], names: list[str]) -> str:
    base = names[0]
    lines = [title, f"{'operation':<12}{'side':<11}{'req/s':>9}{'CPU ms/req':>12}{'x req/s':>9}{'x CPU':>8}"]
    for op, figures in summary.items():
        for name in names:
            f = figures[name]
            ratio = figures.get(f"{name}/{base} throughput", 1.0)
            cpu = figures.get(f"{name}/{base} CPU per request", 1.0)
            lines.append(
                f"{op:<12}{name:<11}{f['throughput']:>9.0f}{f['server_cpu_ms']:>12.3f}{ratio:>9.3f}{cpu:>8.3f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("what", choices=("auth", "code"))
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--before", help="code: the git revision to compare this tree against")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5.0, help="per side, operation and round")
    parser.add_argument("--keys", type=int, default=10_000, help="auth: API keys stored")
    args = parser.parse_args(argv)
    if args.what == "code" and not args.before:
        parser.error("code needs --before REV")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_start = psutil.getloadavg()
    with tempfile.TemporaryDirectory(prefix="chatmem-cmp-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        url = stack.enter_context(fresh_database(args.db, work))
        if args.what == "auth":
            _migrate(url, {})
            sides = auth_sides(url, work, stored_keys=args.keys)
        else:
            before_url = stack.enter_context(fresh_database(args.db, work))
            before_env = {"PYTHONPATH": str(_export(args.before, work))}
            _migrate(before_url, before_env)
            _migrate(url, {})
            sides = [
                Side("before", before_url, before_env, preload=True),
                Side("after", url, preload=True),
                Side("after-again", url),
            ]
        outcome = measure(sides, work, rounds=args.rounds, seconds=args.seconds, log=log)
    names = [side.name for side in sides]
    command = " ".join(["python -m bench.compare", *(argv if argv is not None else sys.argv[1:])])
    result = {
        "command": command,
        "db": args.db,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_avg_start": list(load_start),
        "load_avg_end": list(psutil.getloadavg()),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "concurrency": CONCURRENCY,
        **outcome,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"compare-{args.what}-{args.db}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    title = (
        f"{command}   (median of {args.rounds} rounds, {CONCURRENCY} connections; load average "
        f"{load_start[0]:.1f} at start, {result['load_avg_end'][0]:.1f} at the end)"
    )
    print(_table(title, outcome["summary"], names))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
