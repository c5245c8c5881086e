"""A database of the previous release (schema 0005) upgrades with every row in the default tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import sqlalchemy as sa

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.store import Database, migrate
from chatmem.store.tables import enrich_jobs, messages, sessions, summaries, users
from tests.support import LiveServer, database_url

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def fill_previous_release(db: Database) -> dict[str, uuid.UUID]:
    """Rows as release 0005 wrote them (no tenant columns): two users, three sessions (one deleted),
    messages, a summary and a queued job. Raw inserts of the old columns only."""
    ids = {name: uuid.uuid4() for name in ("m1", "m2", "m3", "summary")}
    with db.write() as conn:
        conn.execute(
            sa.insert(users),
            [
                {"id": 1, "user_id": "alice", "uuid": uuid.uuid4(), "email": "a@example.com",
                 "metadata": {"tier": "gold"}, "created_at": T0, "updated_at": T0},
                {"id": 2, "user_id": "bob", "uuid": uuid.uuid4(), "email": None, "metadata": None,
                 "created_at": T0, "updated_at": T0},
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(sessions),
            [
                {"id": 1, "session_id": "alice-chat", "uuid": uuid.uuid4(), "user_id": "alice",
                 "metadata": {"topic": "trip"}, "created_at": T0, "updated_at": T0, "deleted_at": None,
                 "last_seq": 3, "message_count": 3},
                {"id": 2, "session_id": "anonymous", "uuid": uuid.uuid4(), "user_id": None, "metadata": None,
                 "created_at": T0, "updated_at": T0, "deleted_at": None, "last_seq": 0, "message_count": 0},
                {"id": 7, "session_id": "gone", "uuid": uuid.uuid4(), "user_id": None, "metadata": None,
                 "created_at": T0, "updated_at": T0, "deleted_at": T0, "last_seq": 0, "message_count": 0},
            ],
        )  # fmt: skip
        if not db.is_sqlite:  # explicit ids, so move the sequences as the inserts of a server would
            for table, high in (("users", 2), ("sessions", 7)):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {high})")
        conn.execute(
            sa.insert(messages),
            [
                {"session_pk": 1, "seq": seq, "uuid": ids[f"m{seq}"], "role": role, "content": content,
                 "token_count": 5, "created_at": T0, "updated_at": T0}
                for seq, role, content in (
                    (1, "human", "I want to visit Lisbon in spring."),
                    (2, "ai", "Lisbon is lovely in April."),
                    (3, "human", "Book the tram tour."),
                )
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(summaries).values(
                session_pk=1, point_seq=2, uuid=ids["summary"], recent_message_uuid=ids["m2"],
                content="The user plans a spring trip to Lisbon.", token_count=9, created_at=T0,
            )
        )  # fmt: skip
        conn.execute(
            sa.insert(enrich_jobs).values(
                session_pk=1, id=uuid.uuid4(), kind="embed_messages", seq_lo=3, seq_hi=3, run_at=T0,
                created_at=T0, updated_at=T0,
            )
        )  # fmt: skip
    return ids


def test_the_previous_schema_upgrades_with_every_row_readable_in_the_default_tenant(
    backend: str, tmp_path: Path
) -> None:
    with database_url(backend, tmp_path) as url:
        old = Database(url)
        try:
            migrate(old, "0005")
            ids = fill_previous_release(old)
        finally:
            old.dispose()
        settings = Settings(
            database_url=url, purge_every_minutes=0, enrich_workers=0, embeddings="off", auth="on"
        )
        with LiveServer(settings) as server:  # LiveServer migrates to head
            key = keys.create_key(server.db, "default", Role.ADMIN).key
            other = keys.create_key(server.db, "acme", Role.ADMIN).key
            with server.client("/api/v1", headers={"Authorization": f"Bearer {key}"}) as api:
                assert [u["user_id"] for u in api.get("/user").json()] == ["alice", "bob"]
                alice = api.get("/user/alice").json()
                assert (alice["email"], alice["metadata"]) == ("a@example.com", {"tier": "gold"})
                assert [s["session_id"] for s in api.get("/sessions").json()] == ["alice-chat", "anonymous"]
                assert [s["session_id"] for s in api.get("/user/alice/sessions").json()] == ["alice-chat"]
                session = api.get("/sessions/alice-chat").json()
                assert (session["user_id"], session["metadata"]) == ("alice", {"topic": "trip"})
                memory = api.get("/sessions/alice-chat/memory").json()
                assert [m["uuid"] for m in memory["messages"]] == [str(ids["m3"])]
                assert memory["summary"]["content"] == "The user plans a spring trip to Lisbon."
                page = api.get("/sessions/alice-chat/messages").json()
                assert page["messages"][0]["content"] == "I want to visit Lisbon in spring."
                assert page["total_count"] == 3
                assert api.get(f"/sessions/alice-chat/messages/{ids['m2']}").json()["role"] == "ai"
                found = api.post("/sessions/alice-chat/search", json={"text": "tram", "search_type": "text"})
                assert [hit["message"]["uuid"] for hit in found.json()] == [str(ids["m3"])]
                assert api.get("/sessions/gone").status_code == 404
                assert api.get("/enrichment/queue").json()["depth"] == 1
                # New rows still get fresh ids (the rebuilt SQLite tables kept their AUTOINCREMENT high mark).
                api.post("/sessions", json={"session_id": "after-upgrade"})
                with server.db.read() as conn:
                    new_pk = conn.execute(
                        sa.select(sessions.c.id).where(sessions.c.session_id == "after-upgrade")
                    ).scalar_one()
                assert new_pk > 7
            # Another tenant sees none of it, and may use the same ids for its own rows.
            with server.client("/api/v1", headers={"Authorization": f"Bearer {other}"}) as api:
                assert api.get("/user").json() == []
                assert api.get("/sessions/alice-chat").status_code == 404
                assert api.post("/user", json={"user_id": "alice"}).status_code == 201
                assert (
                    api.post("/sessions", json={"session_id": "alice-chat", "user_id": "alice"}).status_code
                    == 201
                )
