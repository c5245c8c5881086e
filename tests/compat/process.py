"""chatmem as a real server process (``chatmem serve``), the way a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.support import free_port

STARTUP_SECONDS = 60


def chatmem_command() -> Path:
    """The ``chatmem`` console script of the environment running the tests (the main ``.venv``)."""
    return Path(sys.executable).with_name("chatmem")


class ChatmemProcess:
    """``chatmem serve`` on a free loopback port over ``database_url``; stopped on exit.

    The working directory and data directory are ``work_dir``, so no ``.env`` or default SQLite file of
    the developer's leaks in. Server output goes to ``work_dir/server.log`` (shown when startup fails).
    """

    def __init__(self, database_url: str, work_dir: Path, env: dict[str, str] | None = None) -> None:
        self.database_url = database_url
        self.extra_env = env or {}
        self.work_dir = work_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ChatmemProcess:
        command = [
            str(chatmem_command()),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
        ]
        env = (
            {key: value for key, value in os.environ.items() if not key.startswith("CHATMEM_")}
            | {
                "CHATMEM_DATA_DIR": str(self.work_dir),
                "CHATMEM_LOG_LEVEL": "warning",
                # The memory tests count the messages of the window; a summary folding some of them away
                # while a test runs would make that count depend on timing. Servers that need summaries
                # (the search scenario) switch it back on through ``env``.
                "CHATMEM_SUMMARIZER": "off",
            }
            | self.extra_env
        )
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, cwd=self.work_dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop()

    def _wait_until_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chatmem serve exited with {self._process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"chatmem serve did not answer /healthz in {STARTUP_SECONDS} s:\n{self.log()}")

    def _stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=15)

    def send_signal(self, signum: int) -> None:
        assert self._process is not None
        self._process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit status, once the server exited (``subprocess.TimeoutExpired`` after ``timeout``)."""
        assert self._process is not None
        return self._process.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
