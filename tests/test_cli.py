"""``chatmem serve`` as a user runs it: a real process, default SQLite file, several workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import database_url, free_port

CHATMEM = str(Path(sys.executable).parent / "chatmem")


@contextmanager
def serve(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [CHATMEM, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"chatmem serve exited: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1).text == ".":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "chatmem serve did not answer"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_serve_with_no_configuration_uses_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path), "CHATMEM_DATABASE_URL": ""}
    with serve(env=env) as url:
        assert (
            httpx.post(
                f"{url}/api/v1/sessions/s/memory", json={"messages": [{"role": "h", "content": "x"}]}
            ).text
            == "OK"
        )
    assert (tmp_path / "chatmem" / "chatmem.db").exists()
    # data survives a restart
    with serve(env=env) as url:
        assert httpx.get(f"{url}/api/v1/sessions/s/memory").json()["messages"][0]["content"] == "x"


def test_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = subprocess.run(
        [CHATMEM, "migrate", "--database-url", url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "schema up to date" in done.stdout


@pytest.mark.parametrize("workers", [2])
def test_several_server_processes_share_one_database_without_losing_writes(
    backend: str, tmp_path: Path, workers: int
) -> None:
    with (
        database_url(backend, tmp_path) as db_url,
        serve("--workers", str(workers), "--database-url", db_url) as url,
        httpx.Client(base_url=f"{url}/api/v1", timeout=60) as api,
    ):
        api.post("/sessions", json={"session_id": "shared"})

        def work(index: int) -> tuple[int, int]:
            patched = api.patch("/sessions/shared", json={"metadata": {f"k{index}": index}}).status_code
            added = api.post(
                "/sessions/shared/memory", json={"messages": [{"role": "h", "content": f"m{index}"}]}
            ).status_code
            return patched, added

        with ThreadPoolExecutor(max_workers=12) as pool:
            assert set(pool.map(work, range(60))) == {(200, 200)}
        metadata = api.get("/sessions/shared").json()["metadata"]
        page = api.get("/sessions/shared/messages").json()
    assert metadata == {f"k{i}": i for i in range(60)}
    assert page["total_count"] == 60
    assert sorted(m["content"] for m in page["messages"]) == sorted(f"m{i}" for i in range(60))
