"""Server subprocesses on loopback: start on a free port, wait until healthy, read CPU time, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One server (and its uvicorn worker processes when ``--workers`` > 1)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self._argv = [arg.replace("{port}", str(self.port)) for arg in argv]
        self._env = {**os.environ, **env}
        self._log_path = log_dir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        log = self._log_path.open("wb")
        self._proc = subprocess.Popen(
            self._argv, env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self._wait_healthy()
        return self

    def _wait_healthy(self, timeout: float = 60) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self._log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become healthy: {self._log_path.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes so far."""
        root = psutil.Process(self.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def worker_pids(self) -> list[int]:
        """The processes that serve requests (the workers, or the server itself with one worker)."""
        children = psutil.Process(self.pid).children(recursive=True)
        python_children = [child.pid for child in children if "python" in child.name().lower()]
        return python_children or [self.pid]

    def __exit__(self, *_exc: object) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=5)


def chatmem_server(
    url: str, workers: int, log_dir: Path, *, env: dict[str, str] | None = None, name: str = "chatmem"
) -> ServerProcess:
    """``chatmem serve`` as the benchmarks run it; ``env`` adds or overrides settings."""
    executable = Path(sys.executable).parent / "chatmem"
    argv = [str(executable), "serve", "--database-url", url, "--host", HOST, "--port", "{port}"]
    settings = {
        "CHATMEM_LOG_LEVEL": "warning",
        "CHATMEM_PURGE_EVERY_MINUTES": "0",
        # Hot paths only: the enrichment workers' CPU is measured by bench/enrichment_bench.py. The
        # append still enqueues its job in the same transaction, as in production.
        "CHATMEM_ENRICH_WORKERS": "0",
        # No search runs here: the model would only take a core for seconds while the bench warms up.
        "CHATMEM_EMBEDDINGS_PRELOAD": "false",
        "CHATMEM_WORKERS": str(workers),
    } | (env or {})
    return ServerProcess(name, [*argv, "--workers", str(workers)], settings, log_dir)


def floor_server(kind: str, url: str, workers: int, log_dir: Path) -> ServerProcess:
    argv = [sys.executable, "-m", "bench.floors", kind, "--port", "{port}", "--workers", str(workers)]
    root = Path(__file__).resolve().parent.parent
    env = {
        "BENCH_DB_URL": url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    return ServerProcess(f"floor-{kind}", argv, env, log_dir)
