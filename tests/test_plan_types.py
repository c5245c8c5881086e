"""Read and write plans are distinct types: mypy refuses a write plan handed to ``read_plan``.

The example below is type-checked by mypy itself, with ``warn_unused_ignores``: each ``# type: ignore``
marks a line mypy must reject (were it accepted, the unused ignore would be the error), and the lines
without one must pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

EXAMPLE = """
from chatmem.memory import messages, sessions
from chatmem.store import Database
from chatmem.store.prepared import ReadPlan, statement
from chatmem.store.records import SessionRecord
from chatmem.store.tables import DEFAULT_TENANT_ID


async def use(db: Database) -> None:
    db.read_plan(sessions.get_session_plan(DEFAULT_TENANT_ID, "s"))
    db.write_plan(sessions.update_session_plan(DEFAULT_TENANT_ID, "s", None))
    # A read inside a write transaction is fine.
    db.write_plan(sessions.get_session_plan(DEFAULT_TENANT_ID, "s"))
    db.read_plan(sessions.update_session_plan(DEFAULT_TENANT_ID, "s", None))  # type: ignore[arg-type]
    db.read_plan(messages.add_messages_plan("sqlite", DEFAULT_TENANT_ID, "s", []))  # type: ignore[arg-type]
    await db.aread_plan(sessions.delete_session_plan(DEFAULT_TENANT_ID, "s"))  # type: ignore[arg-type]


def sneaks_a_write_into_a_read(session_id: str) -> ReadPlan[SessionRecord]:
    yield statement(sessions._touch, pk=1, ts=None)  # type: ignore[arg-type]
    raise AssertionError
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    example = tmp_path / "plan_kinds.py"
    example.write_text(source)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--warn-unused-ignores",
            "--no-error-summary",
            "--follow-imports=silent",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(example),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MYPYPATH": str(ROOT / "src")},
        timeout=300,
    )


@pytest.mark.timeout(300)
def test_mypy_rejects_a_write_plan_where_a_read_plan_is_expected(tmp_path: Path) -> None:
    checked = mypy(tmp_path, EXAMPLE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
