"""``docs/benchmarks.md`` and ``docs/img/*.png`` from the newest result of each (database, workers).

Only the part between the ``bench:results`` markers is generated; the prose around it is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.ops import OPS, PEER_OPS
from bench.stats import Measurement

RESULTS_DIR = Path(__file__).resolve().parent / "results"
START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
PEERS = ("lc-community-sql", "lc-postgres")
INPROC = "chatmem-inproc"


def latest_results(results_dir: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    newest: dict[tuple[str, int], tuple[str, Path]] = {}
    # Only the hot-path runs (``<db>-w<workers>-...``); the search and enrichment benches write their own.
    for path in [*results_dir.glob("sqlite-w*.json"), *results_dir.glob("postgres-w*.json")]:
        data = json.loads(path.read_text())
        key = (data["meta"]["db"], data["meta"]["workers"])
        if key not in newest or data["meta"]["started"] > newest[key][0]:
            newest[key] = (data["meta"]["started"], path)
    return [json.loads(newest[key][1].read_text()) for key in sorted(newest)]


def _ms(values: Iterable[dict[str, Any]]) -> list[Measurement]:
    return [Measurement.from_json(value) for value in values]


def _find(
    rows: list[Measurement], target: str, op: str, concurrency: int | None = None
) -> Measurement | None:
    for m in rows:
        if m.target == target and m.op == op and (concurrency is None or m.concurrency == concurrency):
            return m
    return None


def _ratio(num: float | None, den: float | None) -> str:
    if not num or not den:
        return "-"
    return f"{num / den:.2f}x"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main_table(data: dict[str, Any]) -> list[str]:
    rows = _ms(data["main"])
    c = data["meta"]["scale_params"]["concurrency"]
    peers = [p for p in PEERS if any(m.target == p for m in rows)]
    head = [
        "op",
        f"req/s @{c}",
        "p50 ms @1",
        "p99 ms @1",
        f"p99 ms @{c}",
        "server CPU ms/req",
        "client CPU share",
        "vs floor 1",
        "vs floor 2",
        "vs floor 3",
        *(f"vs {p}" for p in peers),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for op in OPS:
        one, many = _find(rows, "chatmem", op, 1), _find(rows, "chatmem", op, c)
        if one is None or many is None:
            continue
        f1, f2 = _find(rows, "floor1-http", op, c), _find(rows, "floor2-asgi", op, c)
        f3 = _find(rows, "floor3-sql", op)
        cells = [
            f"`{op}`",
            f"{many.throughput:.0f}",
            _fmt(one.p50_ms),
            _fmt(one.p99_ms),
            _fmt(many.p99_ms),
            _fmt(many.server_cpu_ms),
            _fmt(many.client_cpu_share),
            _ratio(many.throughput, f1.throughput if f1 else None),
            _ratio(many.throughput, f2.throughput if f2 else None),
            _ratio(f3.p50_ms if f3 else None, one.p50_ms),
        ]
        for peer in peers:
            pm = _find(rows, peer, op) if op in PEER_OPS else None
            cells.append(_ratio(pm.p50_ms if pm else None, one.p50_ms))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def floors_table(data: dict[str, Any]) -> list[str]:
    rows = _ms(data["main"])
    c = data["meta"]["scale_params"]["concurrency"]
    targets = ["chatmem", "floor1-http", "floor2-asgi", "floor3-sql", INPROC, *PEERS]
    present = [t for t in targets if any(m.target == t for m in rows)]
    lines = [
        "| op | " + " | ".join(present) + " |",
        "|---|" + "---|" * len(present),
    ]
    for op in OPS:
        cells = []
        for target in present:
            m1 = _find(rows, target, op, 1)
            mc = _find(rows, target, op, c)
            if m1 is None:
                cells.append("-")
            elif mc is None:
                cells.append(f"{m1.throughput:.0f}/s · p50 {m1.p50_ms:.2f}")
            else:
                cells.append(f"{mc.throughput:.0f}/s · p50 {m1.p50_ms:.2f}")
        lines.append(f"| `{op}` | " + " | ".join(cells) + " |")
    return lines


def _p50(rows: list[Measurement], target: str, op: str, key: str, value: int) -> float | None:
    for m in rows:
        if m.target == target and m.op == op and m.extra.get(key) == value:
            return m.p50_ms
    return None


def targets_table(data: dict[str, Any]) -> list[str]:
    main = _ms(data["main"])
    by_len = _ms(data["by_length"])
    by_n = _ms(data["by_sessions"])
    params = data["meta"]["scale_params"]
    c = params["concurrency"]
    lines = ["| target | measured | met? |", "|---|---|---|"]

    def row(label: str, value: float | None, ok: bool | None) -> None:
        verdict = "-" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {label} | {_fmt(value)} | {verdict} |")

    for op in ("append_1", "append_10", "get_memory"):
        chat, f2 = _find(main, "chatmem", op, c), _find(main, "floor2-asgi", op, c)
        ratio = chat.throughput / f2.throughput if chat and f2 and f2.throughput else None
        row(f"`{op}` throughput ≥ 0.7x floor 2 (ratio)", ratio, None if ratio is None else ratio >= 0.7)
    lengths = params["session_lengths"]
    small, big = _p50(by_len, "chatmem", "get_memory", "length", lengths[0]), None
    big = _p50(by_len, "chatmem", "get_memory", "length", lengths[-1])
    ratio = big / small if big and small else None
    row(
        f"get-memory p50 at {lengths[-1]} msgs ≤ 1.2x at {lengths[0]} (ratio)",
        ratio,
        None if ratio is None else ratio <= 1.2,
    )
    counts = params["session_counts"]
    small = _p50(by_n, "chatmem", "get_memory", "sessions", counts[0])
    big = _p50(by_n, "chatmem", "get_memory", "sessions", counts[-1])
    ratio = big / small if big and small else None
    row(
        f"get-memory p50 at {counts[-1]:,} sessions ≤ 1.2x at {counts[0]:,} (ratio)",
        ratio,
        None if ratio is None else ratio <= 1.2,
    )
    first = _find(main, "chatmem", "list_first", 1)
    deep = _find(main, "chatmem", "list_deep_keyset", 1)
    ratio = deep.p50_ms / first.p50_ms if deep and first and first.p50_ms else None
    page = data["meta"].get("deep_page")
    row(
        f"keyset deep page{f' {page}' if page else ''} p50 ≤ 1.5x page 1 (ratio)",
        ratio,
        None if ratio is None else ratio <= 1.5,
    )
    for peer in PEERS:
        for op in PEER_OPS:
            chat, other = _find(main, "chatmem", op, 1), _find(main, peer, op)
            if chat and other:
                speedup = other.p50_ms / chat.p50_ms
                row(f"faster than {peer} on `{op}` (p50 speed-up)", speedup, speedup > 1)
        for op in PEER_OPS:
            inproc, other = _find(main, INPROC, op), _find(main, peer, op)
            if inproc and other:
                speedup = other.p50_ms / inproc.p50_ms
                row(
                    f"{INPROC} faster than {peer} on `{op}`, both in-process (p50 speed-up)",
                    speedup,
                    speedup > 1,
                )
        chat_1k = _p50(by_len, "chatmem", "get_memory", "length", 1000)
        peer_1k = _p50(by_len, peer, "get_memory", "length", 1000)
        if chat_1k and peer_1k:
            speedup = peer_1k / chat_1k
            row(f"≥ 3x {peer} on get-recent-context at 1,000 msgs (speed-up)", speedup, speedup >= 3)
    return lines


def sweep_tables(data: dict[str, Any]) -> list[str]:
    by_n = _ms(data["by_sessions"])
    counts = sorted({m.extra["sessions"] for m in by_n})
    ops = ("get_memory", "get_session", "list_first", "list_deep_keyset", "list_deep_offset")
    lines = [
        "p50 ms (chatmem over HTTP, concurrency 1 / floor 3 in-process) against the number of sessions:",
        "",
    ]
    lines += ["| sessions | " + " | ".join(f"`{op}`" for op in ops) + " |", "|---|" + "---|" * len(ops)]
    for n in counts:
        cells = [
            f"{_fmt(_p50(by_n, 'chatmem', op, 'sessions', n))} / "
            f"{_fmt(_p50(by_n, 'floor3-sql', op, 'sessions', n), 3)}"
            for op in ops
        ]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    by_len = _ms(data["by_length"])
    lengths = sorted({m.extra["length"] for m in by_len})
    targets = [
        t for t in ("chatmem", "floor2-asgi", "floor3-sql", *PEERS) if any(m.target == t for m in by_len)
    ]
    lines += ["", "get-memory p50 ms against session length (messages):", ""]
    lines += ["| length | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for length in lengths:
        cells = [_fmt(_p50(by_len, t, "get_memory", "length", length)) for t in targets]
        lines.append(f"| {length:,} | " + " | ".join(cells) + " |")
    return lines


def profile_lines(data: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for op, profile in data.get("profiles", {}).items():
        top = ", ".join(f"{row['frame']} {row['share']:.0%}" for row in profile["self"][:8])
        lines.append(f"- `{op}` ({profile['samples']} GIL samples), self time: {top}")
    return lines


def plots(results: list[dict[str, Any]], img_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for data in results:
        meta = data["meta"]
        tag = f"{meta['db']}-w{meta['workers']}"
        fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
        by_len = _ms(data["by_length"])
        for target in ("chatmem", "floor2-asgi", "floor3-sql", *PEERS):
            points = sorted(
                (m.extra["length"], m.p50_ms) for m in by_len if m.target == target and m.op == "get_memory"
            )
            if points:
                axes[0].plot(*zip(*points, strict=True), marker="o", label=target)
        axes[0].set(
            xscale="log",
            yscale="log",
            xlabel="messages in the session",
            ylabel="get-memory p50 (ms)",
            title="latency vs session length",
        )
        by_n = _ms(data["by_sessions"])
        for target, op in (
            ("chatmem", "get_memory"),
            ("chatmem", "get_session"),
            ("chatmem", "list_deep_keyset"),
            ("chatmem", "list_deep_offset"),
            ("floor3-sql", "get_memory"),
        ):
            points = sorted(
                (m.extra["sessions"], m.p50_ms) for m in by_n if m.target == target and m.op == op
            )
            if points:
                axes[1].plot(*zip(*points, strict=True), marker="o", label=f"{target} {op}")
        axes[1].set(
            xscale="log",
            yscale="log",
            xlabel="sessions in the database",
            ylabel="p50 (ms)",
            title="latency vs number of sessions",
        )
        by_c = _ms(data["by_concurrency"])
        for target in ("chatmem", "floor2-asgi", "floor1-http"):
            for op, style in (("get_memory", "-"), ("append_1", "--")):
                points = sorted(
                    (m.concurrency, m.throughput) for m in by_c if m.target == target and m.op == op
                )
                if points:
                    axes[2].plot(*zip(*points, strict=True), style, marker="o", label=f"{target} {op}")
        axes[2].set(
            xscale="log",
            xlabel="concurrent connections",
            ylabel="requests/s",
            title="throughput vs concurrency",
        )
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle(
            f"chatmem bench: {meta['db']}, {meta['workers']} worker(s), "
            f"{meta['scale']} scale ({meta['started']})"
        )
        fig.tight_layout()
        name = f"bench-{tag}.png"
        fig.savefig(img_dir / name, dpi=90)
        plt.close(fig)
        names.append(name)
    return names


def auth_lines(data: dict[str, Any]) -> list[str]:
    """``--auth compare``: append and GET memory with auth off, off again (A/A) and on."""
    summary = data.get("auth", {}).get("summary")
    if not summary:
        return []
    lines = [
        "**Authentication overhead** (`--auth compare`: three servers side by side on the loaded "
        "database, 10,000 keys stored; medians of rotated rounds, 16 connections)",
        "",
        "| operation | off req/s | off-again req/s | on req/s | on/off req/s | off-again/off (noise) "
        "| on/off CPU per request | off-again/off CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for op, f in summary.items():
        lines.append(
            f"| {op} | {f['off']['throughput']:.0f} | {f['off-again']['throughput']:.0f} | "
            f"{f['on']['throughput']:.0f} | {f['on/off throughput']:.3f} | "
            f"{f['off-again/off throughput']:.3f} | {f['on/off CPU per request']:.3f} | "
            f"{f['off-again/off CPU per request']:.3f} |"
        )
    return [*lines, ""]


def generated(results: list[dict[str, Any]], images: list[str]) -> str:
    lines: list[str] = [START, ""]
    for data, image in zip(results, images, strict=True):
        meta = data["meta"]
        load = meta.get("load", {})
        lines += [
            f"### {meta['db']}, {meta['workers']} worker(s), {meta['scale']} scale",
            "",
            f"`{meta['command']}` — started {meta['started']}, {meta['duration_s']} s; "
            f"{meta.get('sessions', 0):,} sessions, {load.get('messages', 0):,} messages bulk-loaded in "
            f"{load.get('seconds', 0)} s; load average {meta['load_avg_start'][0]:.1f} at start, "
            f"{meta['load_avg_end'][0]:.1f} at the end ({meta['cpus']} CPUs, shared).",
            "",
            f"![{meta['db']} plots](img/{image})",
            "",
            "**Per operation (chatmem)**",
            "",
            *main_table(data),
            "",
            "**Every target** (req/s at the main concurrency for HTTP targets, sequential for "
            "in-process ones · p50 ms at concurrency 1)",
            "",
            *floors_table(data),
            "",
            "**Targets**",
            "",
            *targets_table(data),
            "",
            *sweep_tables(data),
            "",
            *auth_lines(data),
            "**Profile of the chatmem server** (py-spy, GIL-holding thread only, "
            "during the load at the main concurrency)",
            "",
            *profile_lines(data),
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write_report(docs: Path) -> Path:
    results = latest_results()
    images = plots(results, docs / "img")
    path = docs / "benchmarks.md"
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    path.write_text(before + generated(results, images) + after)
    return path
