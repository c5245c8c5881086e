"""Export and import (docs/portability.md): a dump read back identical across databases, imports that
are idempotent, resumable and stop at a bad line, and the CLI and REST front ends."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from chatmem.base.errors import BadRequestError
from chatmem.portability import format as fmt
from chatmem.portability.export import Selection, export_lines
from chatmem.portability.format import DumpError
from chatmem.portability.importer import import_lines
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT, DEFAULT_TENANT_ID, enrich_jobs, messages, sessions, users
from tests.portability_corpus import fill, read_all, session_ids
from tests.support import LiveServer, live_server, migrated

CHATMEM = str(Path(sys.executable).parent / "chatmem")


def dump(db: Database, selection: Selection | None = None) -> list[bytes]:
    return list(export_lines(db, DEFAULT_TENANT_ID, DEFAULT_TENANT, selection or Selection()))


def api_of(server: LiveServer) -> httpx.Client:
    return server.client("/api/v1", timeout=30)


def counts(db: Database) -> tuple[int, ...]:
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (users, sessions, messages)
        )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The generated corpus, written through the API on SQLite, exported."""
    with live_server("sqlite", tmp_path_factory.mktemp("corpus")) as server, api_of(server) as api:
        fill(api)
        return dump(server.db)


def test_a_dump_moves_sqlite_to_postgres_and_back_reading_identical_through_the_api(tmp_path: Path) -> None:
    with live_server("sqlite", tmp_path / "a") as source, api_of(source) as api:
        fill(api)
        expected = read_all(api, session_ids())
        first = dump(source.db)
    assert any(b'"deleted_at":"' in line for line in first)  # the corpus has deleted sessions
    with live_server("postgres", tmp_path / "b") as pg, api_of(pg) as api:
        import_lines(pg.db, DEFAULT_TENANT_ID, first)
        assert read_all(api, session_ids()) == expected
        second = dump(pg.db)
    with live_server("sqlite", tmp_path / "c") as back, api_of(back) as api:
        import_lines(back.db, DEFAULT_TENANT_ID, second)
        assert read_all(api, session_ids()) == expected
        third = dump(back.db)
    # Apart from the header's time, the three dumps are the same bytes.
    assert first[1:] == second[1:] == third[1:]


def test_importing_twice_stores_nothing_twice(backend: str, tmp_path: Path, corpus: list[bytes]) -> None:
    with migrated(backend, tmp_path) as db:
        first = import_lines(db, DEFAULT_TENANT_ID, corpus)
        after_first = counts(db)
        second = import_lines(db, DEFAULT_TENANT_ID, corpus)
        assert counts(db) == after_first
        assert (second.users, second.sessions, second.messages, second.jobs) == (0, 0, 0, 0)
        assert second.already_there == first.users + first.sessions + first.messages
        assert dump(db)[1:] == corpus[1:]


def test_an_interrupted_import_finishes_when_run_again(
    backend: str, tmp_path: Path, corpus: list[bytes]
) -> None:
    cut = len(corpus) * 2 // 3
    with migrated(backend, tmp_path) as db:
        with pytest.raises(DumpError, match="ends without its end line"):
            import_lines(db, DEFAULT_TENANT_ID, corpus[:cut], batch=7)
        import_lines(db, DEFAULT_TENANT_ID, corpus, batch=7)
        assert dump(db)[1:] == corpus[1:]


def test_a_malformed_line_stops_the_import_with_its_number_keeping_the_lines_before(
    backend: str, tmp_path: Path, corpus: list[bytes]
) -> None:
    bad_at = next(n for n, line in enumerate(corpus) if b'"type":"message"' in line) + 5
    record = orjson.loads(corpus[bad_at - 1])
    record["metadata"] = {"bad": "nul \x00 inside"}
    broken = [*corpus[: bad_at - 1], orjson.dumps(record) + b"\n", *corpus[bad_at:]]
    with migrated(backend, tmp_path) as db:
        with pytest.raises(DumpError) as raised:
            import_lines(db, DEFAULT_TENANT_ID, broken, batch=3)
        assert raised.value.line == bad_at
        assert "NUL" in raised.value.message
        # Exactly the lines before it are stored: their export is the dump's lines before it.
        kept = [line for line in dump(db)[1:-1]]
        assert kept == [line for line in corpus[1 : bad_at - 1] if b'"type":"end"' not in line]
        with db.read() as conn:  # enrichment is queued for what arrived
            assert conn.execute(sa.select(sa.func.count()).select_from(enrich_jobs)).scalar_one() > 0


def _later(record: dict[str, Any], **changes: Any) -> None:
    """Change a dump record as its source would have, a day after it was exported."""
    record.update(changes, updated_at=_time(record["updated_at"]) + dt.timedelta(days=1))


def test_a_newer_dump_updates_what_the_tenant_holds_and_an_older_one_changes_nothing(
    backend: str, tmp_path: Path, corpus: list[bytes]
) -> None:
    with migrated(backend, tmp_path) as db:
        import_lines(db, DEFAULT_TENANT_ID, corpus)
        records = [orjson.loads(line) for line in corpus]
        with_messages = [r["session_id"] for r in records if r["type"] == "message"]
        live = [
            r
            for r in records
            if r["type"] == "session" and r["deleted_at"] is None and r["session_id"] in with_messages
        ]
        changed, deleted = live[0], live[1]
        _later(changed, metadata={"changed": "yes ✓"})
        _later(deleted, deleted_at=_time(deleted["updated_at"]) + dt.timedelta(days=1))
        _later(next(r for r in records if r["type"] == "user"), email="new@example.org")
        message = next(r for r in records if r["type"] == "message")
        _later(message, metadata={"edited": True}, token_count=7)
        newer = [fmt.encode(r) for r in records]

        result = import_lines(db, DEFAULT_TENANT_ID, newer)
        assert (result.users, result.sessions, result.messages, result.updated) == (0, 0, 0, 4)
        # The deleted session's history is deleted with it (its line says it is deleted).
        gone = deleted["session_id"]
        expected = [
            line
            for line, r in zip(newer, records, strict=True)
            if not (r["type"] == "message" and r["session_id"] == gone)
        ]
        assert dump(db)[1:-1] == expected[1:-1]

        older = import_lines(db, DEFAULT_TENANT_ID, corpus)
        assert (older.users, older.sessions, older.messages, older.updated) == (0, 0, 0, 0)
        assert dump(db)[1:-1] == expected[1:-1]


def test_a_conflicting_message_stops_the_import_at_its_line_with_every_line_before_written(
    backend: str, tmp_path: Path, corpus: list[bytes]
) -> None:
    records = [orjson.loads(line) for line in corpus]
    sessions_seen = [n for n, r in enumerate(records) if r["type"] == "session"]
    # The second message of a session in the middle of the dump.
    at = next(
        n
        for n in range(sessions_seen[len(sessions_seen) // 2], len(records))
        if records[n]["type"] == "message" and records[n - 1]["type"] == "message"
    )
    other = {**records[at], "uuid": "00000000-0000-4000-8000-000000000001"}
    session_line = max(n for n in sessions_seen if n < at)
    users_lines = [line for line, r in zip(corpus, records, strict=True) if r["type"] == "user"]
    holding = [corpus[0], *users_lines, corpus[session_line], corpus[at - 1], fmt.encode(other), corpus[-1]]
    with migrated(backend, tmp_path) as db:
        import_lines(db, DEFAULT_TENANT_ID, holding)
        with pytest.raises(DumpError) as raised:
            import_lines(db, DEFAULT_TENANT_ID, corpus)
        assert raised.value.line == at + 1
        assert "already holds another message" in raised.value.problem
        stored = set(dump(db)[1:-1])
        assert set(corpus[1:at]) <= stored
        assert not set(corpus[at:-1]) & stored


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "not valid JSON"),
        (
            b'{"type":"message","session_id":"s","seq":1,"uuid":"00000000-0000-4000-8000-000000000001",'
            b'"role":"ai","content":"","token_count":0,"created_at":"2026-01-01T00:00:00Z",'
            b'"updated_at":"2026-01-01T00:00:00Z"}',
            "is not that of the session line",
        ),
        (b'{"type":"whatever"}', "unknown line type"),
        (b'{"type":"user","user_id":"","uuid":"x"}', "user_id cannot be empty"),
        (b'{"type":"user","user_id":"u","uuid":"x"}', "uuid is not a UUID"),
    ],
)
def test_bad_lines_are_named_with_what_is_wrong(
    tmp_path: Path, corpus: list[bytes], line: bytes, problem: str
) -> None:
    with migrated("sqlite", tmp_path) as db:
        with pytest.raises(DumpError, match=problem) as raised:
            import_lines(db, DEFAULT_TENANT_ID, [corpus[0], line])
        assert raised.value.line == 2
        with pytest.raises(DumpError, match="not a chatmem-export header"):
            import_lines(db, DEFAULT_TENANT_ID, [corpus[1]])


def test_a_message_that_would_overwrite_another_stops_the_import(tmp_path: Path, corpus: list[bytes]) -> None:
    with migrated("sqlite", tmp_path) as db:
        import_lines(db, DEFAULT_TENANT_ID, corpus)
        at = next(n for n, line in enumerate(corpus) if b'"type":"message"' in line)
        record = orjson.loads(corpus[at])
        record["uuid"] = "00000000-0000-4000-8000-000000000001"
        changed = [*corpus[:at], orjson.dumps(record) + b"\n", *corpus[at + 1 :]]
        with pytest.raises(BadRequestError, match="already holds another message"):
            import_lines(db, DEFAULT_TENANT_ID, changed)


def test_selections_export_one_user_one_session_or_recent_changes(
    tmp_path: Path, corpus: list[bytes]
) -> None:
    with migrated("sqlite", tmp_path) as db:
        import_lines(db, DEFAULT_TENANT_ID, corpus)
        records = [orjson.loads(line) for line in corpus[1:-1]]
        session = next(r for r in records if r["type"] == "session" and r["user_id"])
        only = [orjson.loads(line) for line in dump(db, Selection(session_id=session["session_id"]))[1:-1]]
        assert {(r["type"], r.get("session_id", r.get("user_id"))) for r in only} == {
            ("user", session["user_id"]),
            ("session", session["session_id"]),
            *(("message", session["session_id"]) for r in only if r["type"] == "message"),
        }
        mine = [orjson.loads(line) for line in dump(db, Selection(user_id=session["user_id"]))[1:-1]]
        assert {r["user_id"] for r in mine if r["type"] in ("user", "session")} == {session["user_id"]}
        newest = max(r["updated_at"] for r in records if r["type"] == "message")
        since = [orjson.loads(line) for line in dump(db, Selection(since=_time(newest)))[1:-1]]
        assert since and all(r["updated_at"] >= newest for r in since if r["type"] == "message")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_an_export_read_partly_then_dropped_stops_its_cursors(
    backend: str, tmp_path: Path, corpus: list[bytes]
) -> None:
    with migrated(backend, tmp_path) as db:
        import_lines(db, DEFAULT_TENANT_ID, corpus)
        lines = export_lines(db, DEFAULT_TENANT_ID, DEFAULT_TENANT, Selection())
        started = [next(lines) for _ in range(12)]
        assert started[1:] == corpus[1:12]
        lines.close()  # a client that went away: the route's generator is closed
        assert not [t for t in threading.enumerate() if t.name == "chatmem-export"]
        # And the database takes the next import as before.
        assert import_lines(db, DEFAULT_TENANT_ID, corpus).already_there > 0


def test_the_cli_exports_to_stdout_and_imports_a_file(tmp_path: Path, corpus: list[bytes]) -> None:
    source = tmp_path / "dump.jsonl"
    source.write_bytes(b"".join(corpus))
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = subprocess.run(
        [CHATMEM, "import", "--database-url", url, "--tenant", "moved", str(source)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "already there" in done.stderr
    exported = subprocess.run(
        [CHATMEM, "export", "--database-url", url, "--tenant", "moved"], capture_output=True, check=True
    )
    lines = exported.stdout.splitlines(keepends=True)
    assert orjson.loads(lines[0])["tenant"] == "moved"
    assert lines[1:] == corpus[1:]
    assert exported.stderr == b""  # no progress bar when stderr is not a terminal
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(corpus[0] + b"{oops\n")
    failed = subprocess.run(
        [CHATMEM, "import", "--database-url", url, str(broken)], capture_output=True, text=True
    )
    assert failed.returncode == 2
    assert "line 2: not valid JSON" in failed.stderr


def test_the_export_route_streams_the_callers_tenant_to_admins_only(
    tmp_path: Path, corpus: list[bytes]
) -> None:
    from chatmem.access import keys, tenants
    from chatmem.access.roles import Role

    with live_server("sqlite", tmp_path, auth="on") as server:
        admin = keys.create_key(server.db, "acme", Role.ADMIN).key
        writer = keys.create_key(server.db, "acme", Role.WRITER).key
        import_lines(server.db, tenants.get_tenant(server.db, "acme").id, corpus)
        with server.client("/api/v1/admin", timeout=30) as http:
            refused = http.get("/export", headers={"Authorization": f"Bearer {writer}"})
            assert refused.status_code == 403
            streamed = http.get("/export", headers={"Authorization": f"Bearer {admin}"})
            assert streamed.status_code == 200
            assert streamed.headers["content-type"] == "application/x-ndjson"
            assert streamed.content.splitlines(keepends=True)[1:] == corpus[1:]
            bad = http.get(
                "/export", params={"since": "yesterday"}, headers={"Authorization": f"Bearer {admin}"}
            )
            assert bad.status_code == 400
