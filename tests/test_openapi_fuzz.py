"""schemathesis against the live server on each database, driven by the server's own OpenAPI document:
no 5xx, only documented status codes and content types, bodies that match their schemas.

A bounded run (fixed seed, few examples per operation) so that it fits the test command;
``scripts/fuzz.sh`` runs the long one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import LiveServer

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def schemathesis_command(url: str, *, examples: int, seed: int, report: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--checks",
        CHECKS,
        "--seed",
        str(seed),
        "--max-examples",
        str(examples),
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]


@pytest.mark.timeout(600)  # ~60 s per database on an idle machine; the machine is shared
def test_schemathesis_finds_no_failure(shared_server: LiveServer, tmp_path: Path) -> None:
    command = schemathesis_command(shared_server.url, examples=5, seed=20261130, report=tmp_path / "st.xml")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    assert " passed" in done.stdout and "failed" not in done.stdout.split("SUMMARY")[-1]
