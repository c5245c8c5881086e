"""Export and import throughput (messages per second) at a given size, on SQLite and PostgreSQL, with
peak memory, beside a baseline measured in the same run: reading the same message rows with the raw
DB-API cursor and nothing else (what any export must at least pay).

    .venv/bin/python -m bench.portability --messages 1000000          # the issue's size
    .venv/bin/python -m bench.portability --messages 100000 --db sqlite

Targets (issue 15): export >= 50,000 msg/s, import >= 20,000 msg/s, memory not growing with size.
Beside each rate: messages per CPU-second of this process and (PostgreSQL) the server's backends of
the bench database, which a loaded machine's wall clock does not distort as much.
The import reads a dump file written beforehand (not timed); the export writes one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.dbs import fresh_database
from chatmem.portability import format as fmt
from chatmem.portability.export import Selection, export_lines
from chatmem.portability.importer import import_lines
from chatmem.store import Database, migrate
from chatmem.store.tables import DEFAULT_TENANT, DEFAULT_TENANT_ID

PER_SESSION = 100


def synthetic_dump(messages: int) -> Iterator[bytes]:
    """A dump of ``messages`` messages in sessions of PER_SESSION, generated line by line."""
    ts = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    yield fmt.encode(fmt.header(DEFAULT_TENANT, {}, False, ts))
    for s in range((messages + PER_SESSION - 1) // PER_SESSION):
        session_id = f"bench-{s}"
        yield fmt.encode(
            {"type": "session", "session_id": session_id, "uuid": uuid.uuid4(), "user_id": None,
             "metadata": {"s": s}, "created_at": ts, "updated_at": ts, "deleted_at": None}
        )  # fmt: skip
        for seq in range(1, min(PER_SESSION, messages - s * PER_SESSION) + 1):
            yield fmt.encode(
                {"type": "message", "session_id": session_id, "seq": seq, "uuid": uuid.uuid4(),
                 "role": "human" if seq % 2 else "ai", "content": f"message {seq} of session {s}, some words",
                 "metadata": {"n": seq}, "token_count": 9, "created_at": ts, "updated_at": ts}
            )  # fmt: skip
    yield fmt.encode({"type": "end", "counts": {}})


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(db: Database) -> float:
    """CPU time used so far by this process (both threads of the import) and, on PostgreSQL, by the
    server processes of the bench's database (read from /proc: the server runs on this machine). Work
    per message in CPU seconds is what a loaded machine's wall clock cannot show."""
    used = time.process_time()
    if db.is_sqlite:
        return used
    with db.engine.connect() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars()
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return used


def timed(db: Database, work: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (``cpu_seconds``) of ``work``."""
    cpu, started = cpu_seconds(db), time.perf_counter()
    work()
    return time.perf_counter() - started, cpu_seconds(db) - cpu


def run(kind: str, messages: int, work: Path, dump: Path) -> None:
    with fresh_database(kind, work) as url:
        db = Database(url, pool_size=2)
        migrate(db)
        before = peak_mib()

        def load() -> None:
            with dump.open("rb") as lines:
                assert import_lines(db, DEFAULT_TENANT_ID, lines).messages == messages

        out = work / "exported.jsonl"

        def unload() -> None:
            with out.open("wb") as file:
                for line in export_lines(db, DEFAULT_TENANT_ID, DEFAULT_TENANT, Selection()):
                    file.write(line)

        def raw_read() -> None:
            pooled = db.engine.raw_connection()
            # Server-side on PostgreSQL, as the export's (a client-side cursor holds every row at once).
            cursor: Any = pooled.cursor() if db.is_sqlite else pooled.dbapi_connection.cursor(name="baseline")  # type: ignore[union-attr]
            cursor.execute("SELECT session_pk, seq, uuid, role, content, metadata, token_count, created_at, "
                           "updated_at FROM messages ORDER BY session_pk, seq")  # fmt: skip
            while cursor.fetchmany(2000):
                pass
            pooled.close()

        imported, import_cpu = timed(db, load)
        after_import = peak_mib()
        exported, export_cpu = timed(db, unload)
        after_export = peak_mib()
        assert out.stat().st_size > 0
        out.unlink()
        baseline, _ = timed(db, raw_read)
        db.dispose()
        load_average = ", ".join(f"{n:.2f}" for n in os.getloadavg())
        print(
            f"{kind:<9}{messages:>10,} msgs  import {messages / imported:>9,.0f} msg/s "
            f"({messages / import_cpu:,.0f} per CPU-second)  export {messages / exported:>9,.0f} msg/s "
            f"({messages / export_cpu:,.0f} per CPU-second)  "
            f"raw read (baseline) {messages / baseline:>10,.0f} msg/s  export/raw {baseline / exported:.2f}  "
            f"peak RSS {before:.0f} -> {after_import:.0f} -> {after_export:.0f} MiB  "
            f"load average {load_average}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        # The dump is written first (not timed): the import reads it from a file, as `chatmem import` does.
        dump = Path(work) / "dump.jsonl"
        with dump.open("wb") as file:
            file.writelines(synthetic_dump(args.messages))
        for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
            run(kind, args.messages, Path(work), dump)


if __name__ == "__main__":
    main()
