"""``python -m bench run --db sqlite|postgres --workers 1|2 [--quick] [--auth off|on|compare]`` and
``python -m bench report``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.scale import SCALES

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="load a workload, measure chatmem, its floors and peers")
    run.add_argument("--db", choices=("sqlite", "postgres"), required=True)
    run.add_argument("--workers", type=int, choices=(1, 2), default=1)
    run.add_argument("--quick", action="store_true", help="small scales: a run takes a few minutes")
    run.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    run.add_argument("--keep-db", action="store_true", help="do not drop the database afterwards")
    run.add_argument("--no-report", action="store_true", help="do not regenerate docs/benchmarks.md")
    run.add_argument(
        "--auth",
        choices=("off", "on", "compare"),
        default="off",
        help="on: chatmem runs with CHATMEM_AUTH=on (10,000 keys stored) and every request carries a "
        "writer key; compare: auth off as usual, then append and GET memory on auth off, a second "
        "auth-off server (the A/A noise) and auth on, side by side on the loaded database",
    )
    report = commands.add_parser("report", help="regenerate docs/benchmarks.md and docs/img from results")
    report.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)

    from bench.report import write_report

    if args.command == "report":
        print(write_report(args.docs))
        return 0

    from bench.runner import Run

    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    scale = SCALES["quick" if args.quick else "full"]
    path = Run(args.db, args.workers, scale, log, profile=not args.no_profile, auth=args.auth).execute(
        keep=args.keep_db
    )
    log(f"results: {path}")
    if not args.no_report:
        log(f"report: {write_report(ROOT / 'docs')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
