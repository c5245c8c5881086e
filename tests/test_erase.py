"""Erase a user (docs/portability.md): everything of the user goes now, with a receipt; no table, and on
SQLite no byte of the database file or its WAL, still holds the user's strings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from tests.support import LiveServer, live_server


def marker(kind: str) -> str:
    # Lowercase letters and digits: one full-text token, unchanged by the stemmer.
    return f"zq{kind}{uuid.uuid4().hex[:16]}"


def fill_user(api: httpx.Client, user_id: str, mark: str) -> None:
    body = {"user_id": user_id, "email": f"{mark}@example.org", "metadata": {"note": mark}}
    api.post("/user", json=body).raise_for_status()
    for n in range(3):
        session = f"{mark}-session-{n}"
        api.post("/sessions", json={"session_id": session, "user_id": user_id, "metadata": {"m": mark}})
        messages = [{"role": "human", "content": f"my secret is {mark} number {i}"} for i in range(20)]
        api.post(f"/sessions/{session}/memory", json={"messages": messages}).raise_for_status()
        # An old version of a row that was rewritten, and a deleted session, must go too.
        api.patch(f"/sessions/{session}", json={"metadata": {"m2": mark}}).raise_for_status()
    api.delete(f"/sessions/{mark}-session-0/memory").raise_for_status()


def every_row_text(server: LiveServer) -> str:
    """Every row of every table (search tables and shadow tables included) as text."""
    out: list[str] = []
    with server.db.engine.connect() as conn:
        if server.db.is_sqlite:
            names = (
                conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars().all()
            )
            for name in names:
                for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"'):
                    out.append(repr(tuple(row)))
        else:
            names = sa.inspect(conn).get_table_names()
            for name in names:
                out.extend(conn.exec_driver_sql(f'SELECT t::text FROM "{name}" t').scalars().all())
    return "\n".join(out)


@pytest.fixture
def server(backend: str, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(backend, tmp_path, enrich_workers=1, embeddings="off") as live:
        yield live


def test_erasing_a_user_removes_everything_of_it_now_with_a_receipt(server: LiveServer) -> None:
    gone, kept = marker("gone"), marker("kept")
    user = f"user {gone}"
    with server.client("/api/v1", timeout=60) as api:
        fill_user(api, user, gone)
        fill_user(api, f"user {kept}", kept)
        path = f"/user/{quote(user, safe='')}"
        assert api.delete(path, params={"erase": "maybe"}).status_code == 400
        answer = api.delete(path, params={"erase": "true"})
        assert answer.status_code == 200, answer.text
        receipt = answer.json()
        assert receipt["users"] == 1 and receipt["sessions"] == 3
        # The deleted session's messages were still stored (not purged yet): they are erased too.
        assert receipt["messages"] == 60
        assert api.get(path).status_code == 404
        assert api.get(f"/sessions/{gone}-session-1").status_code == 404
        assert api.delete(path, params={"erase": "true"}).status_code == 404
    text = every_row_text(server)
    assert kept in text  # the search sees the other user's strings
    assert gone not in text


def test_erase_leaves_no_bytes_in_the_sqlite_file_or_its_wal(tmp_path: Path) -> None:
    gone, kept = marker("gone"), marker("kept")
    with live_server("sqlite", tmp_path, embeddings="off") as server:
        with server.client("/api/v1", timeout=60) as api:
            fill_user(api, "victim", gone)
            fill_user(api, "other", kept)
            receipt = api.delete("/user/victim", params={"erase": "true"}).json()
        assert receipt["wal_truncated"] is True
        database = Path(server.db.url.database or "")
        wal = Path(f"{database}-wal")
        contents = database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
        assert kept.encode() in contents
        assert gone.encode() not in contents
