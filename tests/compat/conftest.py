"""Fixtures: one ``chatmem serve`` process per backend, and a runner for the client scripts.

The client scripts (``clients/*.py``) run under ``.venv-compat/bin/python``, where the real
zep-python 1.5.0 and LangChain packages live (``scripts/compat_venv.sh`` builds it). Each prints one
JSON object of what it observed; the tests assert on that.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.process import ChatmemProcess
from tests.support import database_url

REPO = Path(__file__).resolve().parents[2]
COMPAT_PYTHON = REPO / ".venv-compat" / "bin" / "python"
CLIENTS = Path(__file__).resolve().parent / "clients"
CLIENT_TIMEOUT_SECONDS = 90

RunClient = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def compat_python() -> Path:
    if not COMPAT_PYTHON.exists():
        pytest.fail(
            f"{COMPAT_PYTHON} is missing: the compat tests need the real zep-python / LangChain "
            "environment. Build it with scripts/compat_venv.sh (the project's test command does).",
            pytrace=False,
        )
    return COMPAT_PYTHON


@pytest.fixture(scope="session")
def chatmem_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatmemProcess]:
    """A ``chatmem serve`` process on an empty database of ``backend``, shared by the compat tests."""
    work_dir = tmp_path_factory.mktemp(f"compat-{backend}")
    with database_url(backend, work_dir) as url, ChatmemProcess(url, work_dir) as server:
        yield server


@pytest.fixture(scope="session")
def summarizing_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatmemProcess]:
    """A ``chatmem serve`` process with the (default, extractive) summarizer on, for summary search."""
    work_dir = tmp_path_factory.mktemp(f"compat-summaries-{backend}")
    env = {"CHATMEM_SUMMARIZER": "extractive", "CHATMEM_ENRICH_POLL_SECONDS": "0.05"}
    with database_url(backend, work_dir) as url, ChatmemProcess(url, work_dir, env) as server:
        yield server


@pytest.fixture(scope="session")
def run_client(compat_python: Path, chatmem_server: ChatmemProcess) -> RunClient:
    """``run_client("users.py", *args)``: run a client script against the server, return its JSON.

    Every script gets the server URL and a fresh prefix for the ids it creates, then ``args``.
    A module runs each script once per backend (session-scoped fixtures) and asserts on parts of it.
    """
    return client_runner(compat_python, chatmem_server)


@pytest.fixture(scope="session")
def run_summarizing_client(compat_python: Path, summarizing_server: ChatmemProcess) -> RunClient:
    """``run_client`` against the server that writes summaries."""
    return client_runner(compat_python, summarizing_server)


def client_runner(compat_python: Path, chatmem_server: ChatmemProcess) -> RunClient:
    def run(script: str, *args: str) -> dict[str, Any]:
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        # LangChain must not try to reach a tracing service from the test machine.
        env |= {"LANGCHAIN_TRACING_V2": "false", "LANGSMITH_TRACING": "false", "PYTHONIOENCODING": "utf-8"}
        prefix = f"c{uuid.uuid4().hex[:10]}"
        done = subprocess.run(
            [str(compat_python), str(CLIENTS / script), chatmem_server.url, prefix, *args],
            capture_output=True,
            env=env,
            timeout=CLIENT_TIMEOUT_SECONDS,
            check=False,
        )
        stdout = done.stdout.decode("utf-8", errors="replace")
        stderr = done.stderr.decode("utf-8", errors="replace")
        if done.returncode != 0:
            pytest.fail(
                f"{script} exited with {done.returncode}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
                f"\n--- server log\n{chatmem_server.log()}",
                pytrace=False,
            )
        lines = stdout.strip().splitlines()
        if not lines:
            pytest.fail(f"{script} printed nothing\n--- stderr\n{stderr}", pytrace=False)
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    return run
