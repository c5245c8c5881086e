"""``chatmem import-zep``: a server standing in for Zep 0.x (chatmem speaks its API), filled through the
real zep-python SDK, migrated through its REST API into a fresh database on SQLite and PostgreSQL; what
the API shows reads back identical, a second run stores nothing twice and picks up what changed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.enrich.worker import Worker
from chatmem.portability.zep import ZepError, ZepSource, import_zep
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT, DEFAULT_TENANT_ID, messages, sessions, summaries, users
from tests.portability_corpus import path, read_all
from tests.support import LiveServer, live_server

pytestmark = pytest.mark.compat

REPO = Path(__file__).resolve().parents[1]
COMPAT_PYTHON = REPO / ".venv-compat" / "bin" / "python"
FILL = REPO / "tests" / "compat" / "clients" / "migration_source.py"
CHATMEM = str(Path(sys.executable).parent / "chatmem")


def fill_with_zep_python(url: str, api_key: str = "") -> dict[str, Any]:
    """Run the zep-python script that fills the stand-in; the ids it used."""
    if not COMPAT_PYTHON.exists():
        pytest.fail(f"{COMPAT_PYTHON} is missing: scripts/test.sh builds it (scripts/compat_venv.sh)")
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    done = subprocess.run(
        [str(COMPAT_PYTHON), str(FILL), url, f"z{uuid.uuid4().hex[:8]}", api_key],
        capture_output=True,
        env=env | {"PYTHONIOENCODING": "utf-8"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    filled: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return filled


def api_of(server: LiveServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=f"{server.url}/api/v1", headers=headers, timeout=30)


def counts(db: Database) -> tuple[int, ...]:
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (users, sessions, messages, summaries)
        )


def enrich(server: LiveServer) -> None:
    """Run the source's enrichment to the end: token counts and summaries, as Zep had them."""
    worker = Worker(server.db, server.settings)
    while worker.run_once():
        pass


def stand_in(tmp_dir: Path, auth: str = "off") -> contextlib.AbstractContextManager[LiveServer]:
    """The server standing in for Zep. Zep summarizes past a window: a small one gives it summaries
    (extractive, no LLM)."""
    return live_server(
        "sqlite", tmp_dir, summarizer="extractive", embeddings="off", message_window=4, auth=auth
    )


@pytest.fixture(scope="module")
def zep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, Any]]]:
    with stand_in(tmp_path_factory.mktemp("zep")) as server:
        filled = fill_with_zep_python(server.url)
        enrich(server)
        yield server, filled


def test_import_zep_moves_what_zeps_api_shows_and_it_reads_back_identical(
    backend: str, tmp_path: Path, zep: tuple[LiveServer, dict[str, Any]]
) -> None:
    source, filled = zep
    ids = filled["session_ids"]
    with api_of(source) as api:
        expected = read_all(api, ids)
        # What the stand-in holds, as Zep would show it: a deleted session is gone, a revived one
        # shows only its new messages, summaries exist.
        assert expected[f"session {ids[3]}"] == 404
        assert [m["content"] for m in expected[f"session {ids[5]}"][1]["messages"]] == [
            "line\nbreak turn 100",
            "plain turn 101",
            "naïve café turn 102",
        ]
        assert api.get(f"/sessions/{path(ids[1])}/memory").json()["summary"]["content"]
    with live_server(backend, tmp_path) as target:
        zep_source = ZepSource(source.url)
        # Small pages: the users, sessions and messages each take several requests.
        first = import_zep(target.db, DEFAULT_TENANT_ID, DEFAULT_TENANT, zep_source, page=2, message_page=10)
        assert first.complete and first.summaries >= 1 and first.jobs > 0
        assert (first.users, first.sessions) == (3, 8)
        with api_of(target) as api:
            assert read_all(api, ids) == expected
        stored = counts(target.db)
        again = import_zep(target.db, DEFAULT_TENANT_ID, DEFAULT_TENANT, zep_source, page=3, batch=7)
        assert counts(target.db) == stored
        assert (again.users, again.sessions, again.messages, again.summaries, again.jobs) == (0, 0, 0, 0, 0)
        assert again.already_there == first.users + first.sessions + first.messages + first.summaries
        with api_of(target) as api:
            assert read_all(api, ids) == expected


def test_import_zep_with_an_api_key_resumes_and_picks_up_changes(tmp_path: Path) -> None:
    with stand_in(tmp_path / "zep", auth="on") as source:
        key = keys.create_key(source.db, "old-zep", Role.ADMIN).key
        filled = fill_with_zep_python(source.url, key)
        enrich(source)
        ids = filled["session_ids"]
        url = f"sqlite:///{tmp_path / 'moved.db'}"
        command = [CHATMEM, "import-zep", "--database-url", url, "--url", source.url]

        refused = subprocess.run(command, capture_output=True, text=True, check=False)
        assert refused.returncode == 2
        assert "401" in refused.stderr

        done = subprocess.run([*command, "--api-key", key], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "imported 3 users, 8 sessions" in done.stderr
        assert done.stdout == ""  # and no progress bar: stderr is not a terminal

        # Zep keeps changing until the switch-over: a re-run brings what changed, nothing twice.
        with api_of(source, key) as api:
            more = {"messages": [{"role": "human", "content": "one more ✨", "metadata": {"late": True}}]}
            api.post(f"/sessions/{path(ids[0])}/memory", json=more).raise_for_status()
            api.patch(f"/sessions/{path(ids[4])}", json={"metadata": {"moved": "soon"}}).raise_for_status()
            expected = read_all(api, ids)
        rerun = subprocess.run([*command, "--api-key", key], capture_output=True, text=True, check=False)
        assert rerun.returncode == 0, rerun.stderr
        assert "imported 0 users, 0 sessions, 1 messages" in rerun.stderr

    settings = Settings(database_url=url, purge_every_minutes=0, enrich_workers=0)
    with LiveServer(settings) as target, api_of(target) as api:
        assert read_all(api, ids) == expected


def test_import_zep_names_the_server_it_cannot_read(tmp_path: Path) -> None:
    with live_server("sqlite", tmp_path) as target, pytest.raises(ZepError, match="cannot reach the Zep"):
        import_zep(target.db, DEFAULT_TENANT_ID, DEFAULT_TENANT, ZepSource("http://127.0.0.1:9"))
