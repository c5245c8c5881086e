"""Deleted rows leave the full-text index when the purge removes them (SQLite's FTS5 table is separate;
PostgreSQL's GIN index and the pgvector copy follow their rows, see test_pgvector.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from chatmem.memory.purge import purge
from tests.search.conftest import add, client, contents, search
from tests.support import LiveServer, backends, live_server


def fts_rows(server: LiveServer) -> int:
    with server.db.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM messages_fts").scalar() or 0)


def test_purge_removes_deleted_messages_from_the_fts_index(tmp_path: Path, sid: str) -> None:
    with live_server("sqlite", tmp_path) as server, client(server) as api:
        add(api, sid, ("human", "first life of the session"), ("ai", "indeed the first"))
        add(api, "other", ("human", "another session stays"))
        assert fts_rows(server) == 3
        api.delete(f"/sessions/{sid}/memory")
        add(api, sid, ("human", "second life of the session"))
        assert fts_rows(server) == 4  # soft delete: still indexed, never returned
        assert contents(search(api, f"/sessions/{sid}", text="life", search_type="text")) == [
            "second life of the session"
        ]
        purge(server.db)
        assert fts_rows(server) == 2
        api.delete(f"/sessions/{sid}/memory")
        purge(server.db)
        assert fts_rows(server) == 1
        assert contents(search(api, "/sessions/other", text="session", search_type="text")) == [
            "another session stays"
        ]


@pytest.mark.parametrize("backend", backends("postgres"))
def test_postgres_text_search_never_returns_purged_rows(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]], sid: str, backend: str
) -> None:
    with fresh_server() as server, client(server) as api:
        add(api, sid, ("human", "first life"))
        api.delete(f"/sessions/{sid}/memory")
        purge(server.db)
        add(api, sid, ("human", "second life"))
        assert contents(search(api, f"/sessions/{sid}", text="life", search_type="text")) == ["second life"]
