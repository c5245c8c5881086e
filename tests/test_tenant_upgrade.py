"""A database of the previous release (schema 0005) upgrades with every row in the default tenant."""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from pathlib import Path

import sqlalchemy as sa

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.config import Settings
from chatmem.store import Database, migrate
from chatmem.store.tables import (
    enrich_jobs,
    message_embeddings,
    messages,
    sessions,
    summaries,
    summary_embeddings,
    tenants,
    users,
)
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
            sa.insert(old_table(messages)),
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
            sa.insert(old_table(summaries)).values(
                session_pk=1, point_seq=2, uuid=ids["summary"], recent_message_uuid=ids["m2"],
                content="The user plans a spring trip to Lisbon.", token_count=9, created_at=T0,
            )
        )  # fmt: skip
        conn.execute(
            sa.insert(old_table(enrich_jobs)).values(
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


def old_table(table: sa.Table) -> sa.TableClause:
    """``table`` as release 0006 had it: without ``tenant_id`` (typed columns, for the inserts)."""
    return sa.table(table.name, *(sa.column(c.name, c.type) for c in table.c if c.name != "tenant_id"))


# session pk -> (tenant id, session id) of the 0006 database below: the same session id in two tenants.
SESSIONS_0006 = {1: (1, "chat"), 2: (2, "chat"), 3: (2, "other")}
BELOW_A_SESSION = (messages, summaries, message_embeddings, summary_embeddings, enrich_jobs)


def fill_release_0006(db: Database) -> None:
    """Two tenants' sessions, each with messages, a summary, vectors and a job, as 0006 stored them."""
    vector = struct.pack("<4f", 0.5, 0.5, 0.5, 0.5)
    with db.write() as conn:
        conn.execute(sa.insert(tenants).values(id=2, name="acme", created_at=T0))
        if not db.is_sqlite:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('tenants', 'id'), 2)")
        conn.execute(
            sa.insert(sessions),
            [
                {"id": pk, "tenant_id": tenant, "session_id": sid, "uuid": uuid.uuid4(), "created_at": T0,
                 "updated_at": T0, "last_seq": 2, "message_count": 2}
                for pk, (tenant, sid) in SESSIONS_0006.items()
            ],
        )  # fmt: skip
        if not db.is_sqlite:
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('sessions', 'id'), 3)")
        for pk, (tenant, _sid) in SESSIONS_0006.items():
            word = "anchovy" if tenant == 1 else "zeppelin"
            conn.execute(
                sa.insert(old_table(messages)),
                [
                    {"session_pk": pk, "seq": seq, "uuid": uuid.uuid4(), "role": "human",
                     "content": f"{word} number {seq} of session {pk}", "token_count": 3,
                     "created_at": T0, "updated_at": T0}
                    for seq in (1, 2)
                ],
            )  # fmt: skip
            conn.execute(
                sa.insert(old_table(summaries)).values(
                    session_pk=pk, point_seq=1, uuid=uuid.uuid4(), recent_message_uuid=uuid.uuid4(),
                    content=f"summary of session {pk}", token_count=4, created_at=T0,
                )
            )  # fmt: skip
            for table, key in ((message_embeddings, "seq"), (summary_embeddings, "point_seq")):
                conn.execute(
                    sa.insert(old_table(table)).values(
                        session_pk=pk, model="m", dimensions=4, vector=vector, created_at=T0, **{key: 1}
                    )
                )
            conn.execute(
                sa.insert(old_table(enrich_jobs)).values(
                    session_pk=pk, id=uuid.uuid4(), kind="ingest", seq_lo=2, seq_hi=2, run_at=T0,
                    created_at=T0, updated_at=T0,
                )
            )  # fmt: skip


def test_a_0006_database_upgrades_with_every_row_below_a_session_in_its_sessions_tenant(
    backend: str, tmp_path: Path
) -> None:
    with database_url(backend, tmp_path) as url:
        old = Database(url)
        try:
            migrate(old, "0006")
            fill_release_0006(old)
        finally:
            old.dispose()
        settings = Settings(
            database_url=url, purge_every_minutes=0, enrich_workers=0, embeddings="off", auth="on"
        )
        with LiveServer(settings) as server:  # LiveServer migrates to head
            with server.db.read() as conn:
                for table in BELOW_A_SESSION:
                    stored = conn.execute(sa.select(table.c.session_pk, table.c.tenant_id)).all()
                    expected = [(pk, tenant) for pk, (tenant, _sid) in SESSIONS_0006.items()]
                    per_session = 2 if table is messages else 1
                    assert sorted(stored) == sorted(expected * per_session), table.name
            acme = keys.create_key(server.db, "acme", Role.WRITER).key
            with server.client("/api/v1", headers={"Authorization": f"Bearer {acme}"}) as api:
                memory = api.get("/sessions/chat/memory").json()
                assert [m["content"] for m in memory["messages"]] == [
                    "zeppelin number 2 of session 2"
                ]  # the summary point is 1
                assert memory["summary"]["content"] == "summary of session 2"
                assert api.get("/enrichment/queue").status_code == 403  # a writer
                # Full text still finds the rows (SQLite's FTS5 triggers were re-created with the tables).
                found = api.post("/sessions/chat/search", json={"text": "zeppelin", "search_type": "text"})
                assert len(found.json()) == 2
                assert (
                    api.post("/sessions/chat/search", json={"text": "anchovy", "search_type": "text"}).json()
                    == []
                )
                api.post("/sessions/chat/memory", json={"messages": [{"role": "ai", "content": "a walrus"}]})
                found = api.post("/sessions/chat/search", json={"text": "walrus", "search_type": "text"})
                assert [hit["message"]["content"] for hit in found.json()] == ["a walrus"]
            with server.db.read() as conn:
                tenant_of_new = conn.execute(
                    sa.select(messages.c.tenant_id).where(messages.c.content == "a walrus")
                ).scalar_one()
            assert tenant_of_new == 2
