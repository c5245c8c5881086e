"""What the periodic purge and the admin page's list of deleted sessions cost at scale, with and without
the partial indexes of migration 0008, in one run.

    .venv/bin/python -m bench.purge_scan --db sqlite|postgres [--sessions 1000000] [--repeat 5]

A fresh database holds ``--sessions`` live sessions of one tenant and nothing to purge: the common case
(the purge runs hourly by default and usually finds nothing). Measured: one ``purge()`` (its two passes,
each a write transaction that looks for sessions to remove; on SQLite the write lock is held meanwhile),
and the admin page's first page of the tenant's deleted sessions (none). Then the three indexes are
dropped and the same is measured again: the baseline, which is the schema before migration 0008. Medians
of ``--repeat`` runs, milliseconds; nothing is asserted (docs/benchmarks.md, "Purge").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from bench.dbs import fresh_database
from bench.loader import ChatmemLoader
from chatmem.memory import browse, purge
from chatmem.store import Database, migrated_database
from chatmem.store.tables import DEFAULT_TENANT_ID

INDEXES = ("ix_sessions_deleted_id", "ix_sessions_deleted_tenant_id_id", "ix_sessions_below_floor_id")


def _median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _measure(db: Database, repeat: int) -> tuple[float, float]:
    def deleted_page() -> object:
        return db.read_plan(browse.list_sessions_plan(DEFAULT_TENANT_ID, state=browse.SessionState.DELETED))

    return _median_ms(lambda: purge.purge(db), repeat), _median_ms(deleted_page, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.purge_scan", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="chatmem-purge-") as tmp,
        fresh_database(args.db, Path(tmp)) as url,
        migrated_database(url) as db,
    ):
        ChatmemLoader(db).load((f"s{n}", []) for n in range(args.sessions))
        indexed = _measure(db, args.repeat)
        with db.write() as conn:
            for name in INDEXES:
                conn.execute(sa.text(f"DROP INDEX {name}"))
        scanned = _measure(db, args.repeat)
    print(f"{args.db}, {args.sessions:,} live sessions, none to purge (median of {args.repeat}, ms)")
    print(f"{'':<34}{'indexed (0008)':>16}{'scan (before)':>16}")
    print(f"{'purge(), both passes':<34}{indexed[0]:>16.2f}{scanned[0]:>16.2f}")
    print(f"{'admin: first page of deleted':<34}{indexed[1]:>16.2f}{scanned[1]:>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
