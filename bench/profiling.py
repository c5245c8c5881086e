"""Where chatmem's server spends its CPU on the hot paths: py-spy sampling the live server process.

Only the thread holding the GIL is sampled (``--gil``), so shares are shares of Python CPU time, not
of threads waiting for a connection or for work.

The profile is summarized as the functions with the largest share of samples (inclusive: the function
and what it calls; self: the function alone), which is what the report's proposals cite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.httpload import run_http
from bench.ops import Workload
from bench.procs import HOST, ServerProcess
from bench.scale import Scale

Log = Any
_SCAFFOLDING = ("asyncio", "uvloop", "threading.py", "concurrent/futures", "<module>", "run (")


def _py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def summarize_collapsed(text: str, top: int = 25) -> dict[str, Any]:
    """Collapsed stacks (``frame;frame;... count``) to the top inclusive and self frames."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        samples = int(count_text)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples

    def rows(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": frame, "share": round(samples / total, 4)}
            for frame, samples in counter.most_common(top * 3)
            if not any(marker in frame for marker in _SCAFFOLDING)
        ][:top]

    return {"samples": total, "inclusive": rows(inclusive), "self": rows(own)}


def profile_server(
    server: ServerProcess,
    workload: Workload,
    scale: Scale,
    work_dir: Path,
    log: Log,
    headers: tuple[bytes, ...] = (),
) -> dict[str, Any]:
    """Sample the server's worker while it serves each hot operation at the main concurrency."""
    py_spy = _py_spy()
    if py_spy is None:
        log("py-spy not found: no profile")
        return {}
    profiles: dict[str, Any] = {}
    for op in ("get_memory", "append_1", "get_session", "list_deep_keyset"):
        out = work_dir / f"profile-{op}.txt"
        pid = server.worker_pids()[0]
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--gil",
                "--rate",
                "500",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
                "--duration",
                str(int(scale.max_seconds) + 2),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        run_http(
            "chatmem",
            op,
            HOST,
            server.port,
            workload.http(op),
            concurrency=scale.concurrency,
            max_requests=10**9,
            max_seconds=scale.max_seconds,
            warmup=scale.warmup_requests,
            server_cpu=server.cpu_seconds,
            headers=headers,
        )
        _, err = spy.communicate(timeout=60)
        if not out.exists():
            log(f"py-spy failed on {op}: {err.decode()[-500:]}")
            continue
        profiles[op] = summarize_collapsed(out.read_text())
        log(f"  profiled {op}: {profiles[op]['samples']} samples")
    return profiles
