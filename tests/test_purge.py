"""The purge hard-deletes soft-deleted data, on demand and periodically, and never touches live data."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import sqlalchemy as sa

from chatmem.memory import browse
from chatmem.memory.purge import _BELOW_FLOORS, _DELETED_SESSIONS, purge
from chatmem.store import Database
from tests.support import LiveServer, migrated

Fresh = Callable[..., AbstractContextManager[LiveServer]]


def counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        sessions = conn.execute(sa.text("SELECT count(*) FROM sessions")).scalar_one()
        messages = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
    return sessions, messages


def seed(api: httpx.Client) -> None:
    """Three sessions of 2 messages each: 'live' untouched, 'gone' deleted, and 'revived' deleted
    and then given 1 new message."""
    for session in ("live", "gone", "revived"):
        api.post(
            f"/sessions/{session}/memory",
            json={"messages": [{"role": "h", "content": f"{session}-{i}"} for i in range(2)]},
        )
    api.delete("/sessions/gone/memory")
    api.delete("/sessions/revived/memory")
    api.post("/sessions/revived/memory", json={"messages": [{"role": "h", "content": "revived-new"}]})


def test_purge_removes_deleted_sessions_and_messages_only(fresh_server: Fresh) -> None:
    with fresh_server() as server, server.client("/api/v1") as api:
        seed(api)
        assert counts(server.db) == (3, 7)
        result = purge(server.db)
        assert (result.sessions, result.messages) == (1, 4)
        assert counts(server.db) == (2, 3)
        assert purge(server.db).messages == 0
        assert [m["content"] for m in api.get("/sessions/live/memory").json()["messages"]] == [
            "live-0",
            "live-1",
        ]
        assert [m["content"] for m in api.get("/sessions/revived/memory").json()["messages"]] == [
            "revived-new"
        ]
        # a purged id can be used again from scratch
        api.post("/sessions/gone/memory", json={"messages": [{"role": "h", "content": "again"}]})
        assert [m["content"] for m in api.get("/sessions/gone/memory").json()["messages"]] == ["again"]


def test_deleted_users_sessions_are_purged(fresh_server: Fresh) -> None:
    with fresh_server() as server, server.client("/api/v1") as api:
        api.post("/user", json={"user_id": "u"})
        api.post("/sessions", json={"session_id": "s", "user_id": "u"})
        api.post("/sessions/s/memory", json={"messages": [{"role": "h", "content": "x"}]})
        api.delete("/user/u")
        assert purge(server.db).sessions == 1
        assert counts(server.db) == (0, 0)


def test_purge_command_line(fresh_server: Fresh) -> None:
    with fresh_server() as server, server.client("/api/v1") as api:
        seed(api)
        url = server.settings.resolved_database_url()
        done = subprocess.run(
            [sys.executable, "-m", "chatmem.cli", "purge", "--database-url", url],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": "src"},
        )
        assert done.returncode == 0, done.stderr
        assert "purged 1 sessions and 4 messages" in done.stdout
        assert counts(server.db) == (2, 3)


def test_server_purges_periodically(fresh_server: Fresh) -> None:
    with (
        fresh_server(purge_every_minutes=0.005) as server,
        server.client("/api/v1") as api,
    ):
        seed(api)
        deadline = time.monotonic() + 20
        while counts(server.db) != (2, 3):
            assert time.monotonic() < deadline, "the periodic purge did not run"
            time.sleep(0.1)
        assert len(api.get("/sessions").json()) == 2


def test_the_purge_and_the_deleted_list_read_only_the_sessions_awaiting_the_purge(tmp_path: Path) -> None:
    """Through the partial indexes of migration 0008, not a scan of every session (at a million
    sessions the scans held SQLite's write lock for ~150 ms per purge: bench/purge_scan.py). SQLite
    only: PostgreSQL's planner chooses by statistics, and on a test's few rows a scan is cheapest."""
    with migrated("sqlite", tmp_path) as db, db.read() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        deleted = browse._SESSION_LISTINGS[(browse.SessionState.DELETED, False, browse.PrefixMatch.NONE)]
        for query, index in (
            (_DELETED_SESSIONS.find, "ix_sessions_deleted_id"),
            (_BELOW_FLOORS.find, "ix_sessions_below_floor_id"),
            (deleted, "ix_sessions_deleted_tenant_id_id"),
        ):
            sql = query.compiled(conn.dialect).sql
            plan = " ".join(
                str(row[3]) for row in raw.execute("EXPLAIN QUERY PLAN " + sql, [0] * sql.count("?"))
            )
            assert f"USING INDEX {index}" in plan, plan
