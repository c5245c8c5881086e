"""The peers, driven in-process on the same database (no HTTP in front of them).

- ``langchain-community`` ``SQLChatMessageHistory``: SQLAlchemy ORM, table ``message_store``
  (both databases; as shipped, with no index on ``session_id``).
- ``langchain-postgres`` ``PostgresChatMessageHistory``: psycopg 3, table ``lc_chat_history``
  (PostgreSQL only; it requires UUID session ids, so each chatmem session id maps to a uuid5 of it).

Both APIs read a session whole: "the last N messages" is ``get_messages()[-N:]`` and a page of the message
list is a slice of everything, which is exactly what an application using them does.

``chatmem-inproc`` is chatmem's memory layer (the plans ``add_messages_plan``, ``recent_messages_plan``,
``list_messages_plan``) driven the same way, so each peer can also be compared with chatmem without
HTTP on either side.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa
from langchain_community.chat_message_histories import SQLChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, message_to_dict
from langchain_postgres import PostgresChatMessageHistory

from bench.loader import SessionSpec
from chatmem.memory.messages import add_messages_plan, list_messages_plan, recent_messages_plan
from chatmem.memory.records import NewMessage
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT_ID

COMMUNITY_TABLE = "message_store"
LC_PG_TABLE = "lc_chat_history"
_NAMESPACE = uuid.UUID("7b0d6e1e-3f1a-4c55-9a55-0b6c1f3a9e11")


def _message(role: str, content: str) -> BaseMessage:
    return HumanMessage(content=content) if role == "human" else AIMessage(content=content)


@cache
def _message_json(role: str, content: str) -> str:
    return json.dumps(message_to_dict(_message(role, content)))


class Peer(Protocol):
    name: str

    def append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None: ...
    def recent(self, session_id: str, limit: int) -> Sequence[Any]: ...
    def page(self, session_id: str, limit: int) -> Sequence[Any]: ...
    def bulk_load(self, specs: Iterable[SessionSpec]) -> float: ...
    def close(self) -> None: ...


class ChatmemInProcess:
    """chatmem's own memory layer called in this process, sequentially, exactly as the peers are: the
    like-for-like comparison (the peers have no server; chatmem's HTTP numbers include one)."""

    name = "chatmem-inproc"

    def __init__(self, url: str) -> None:
        self.db = Database(url)

    def append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None:
        new = [NewMessage(role=role, content=content) for role, content in messages]
        self.db.write_plan(add_messages_plan(self.db.dialect_name, DEFAULT_TENANT_ID, session_id, new))

    def recent(self, session_id: str, limit: int) -> Sequence[Any]:
        return self.db.read_plan(
            recent_messages_plan(
                self.db.dialect_name, DEFAULT_TENANT_ID, session_id, window=limit, lastn=limit
            )
        ).messages

    def page(self, session_id: str, limit: int) -> Sequence[Any]:
        return self.db.read_plan(
            list_messages_plan(DEFAULT_TENANT_ID, session_id, limit=limit, page=1)
        ).messages

    def bulk_load(self, specs: Iterable[SessionSpec]) -> float:
        return 0.0  # the bench loader already put every session into chatmem's tables

    def close(self) -> None:
        self.db.dispose()


class CommunityPeer:
    name = "lc-community-sql"

    def __init__(self, url: str) -> None:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() != "sqlite":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.engine = sa.create_engine(parsed)
        self._histories: dict[str, SQLChatMessageHistory] = {}
        self._history("setup")  # creates the peer's table, as the peer does on first use

    def _history(self, session_id: str) -> SQLChatMessageHistory:
        history = self._histories.get(session_id)
        if history is None:
            history = SQLChatMessageHistory(session_id, table_name=COMMUNITY_TABLE, connection=self.engine)
            self._histories[session_id] = history
        return history

    def append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None:
        self._history(session_id).add_messages([_message(role, content) for role, content in messages])

    def recent(self, session_id: str, limit: int) -> list[BaseMessage]:
        return self._history(session_id).get_messages()[-limit:]

    def page(self, session_id: str, limit: int) -> list[BaseMessage]:
        return self._history(session_id).get_messages()[:limit]

    def bulk_load(self, specs: Iterable[SessionSpec]) -> float:
        started = time.perf_counter()
        insert = sa.text(f"INSERT INTO {COMMUNITY_TABLE} (session_id, message) VALUES (:s, :m)")
        rows: list[dict[str, Any]] = []
        for session_id, turns in specs:
            rows.extend({"s": session_id, "m": _message_json(t.role, t.content)} for t in turns)
            if len(rows) >= 50_000:
                with self.engine.begin() as conn:
                    conn.execute(insert, rows)
                rows = []
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert, rows)
        return time.perf_counter() - started

    def close(self) -> None:
        for history in self._histories.values():
            history.session_maker.remove()
        self.engine.dispose()


class LangchainPostgresPeer:
    name = "lc-postgres"

    def __init__(self, url: str) -> None:
        conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn = psycopg.connect(conninfo)
        PostgresChatMessageHistory.create_tables(self.conn, LC_PG_TABLE)
        self._histories: dict[str, PostgresChatMessageHistory] = {}

    def _history(self, session_id: str) -> PostgresChatMessageHistory:
        history = self._histories.get(session_id)
        if history is None:
            key = str(uuid.uuid5(_NAMESPACE, session_id))
            history = PostgresChatMessageHistory(LC_PG_TABLE, key, sync_connection=self.conn)
            self._histories[session_id] = history
        return history

    def append(self, session_id: str, messages: Sequence[tuple[str, str]]) -> None:
        self._history(session_id).add_messages([_message(role, content) for role, content in messages])

    def recent(self, session_id: str, limit: int) -> list[BaseMessage]:
        return self._history(session_id).get_messages()[-limit:]

    def page(self, session_id: str, limit: int) -> list[BaseMessage]:
        return self._history(session_id).get_messages()[:limit]

    def bulk_load(self, specs: Iterable[SessionSpec]) -> float:
        started = time.perf_counter()
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {LC_PG_TABLE} (session_id, message) FROM STDIN") as copy,
        ):
            for session_id, turns in specs:
                key = uuid.uuid5(_NAMESPACE, session_id)
                for turn in turns:
                    copy.write_row((key, _message_json(turn.role, turn.content)))
        self.conn.commit()
        with self.conn.cursor() as cursor:
            cursor.execute(f"ANALYZE {LC_PG_TABLE}")
        self.conn.commit()
        return time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


def peers_for(url: str) -> list[Peer]:
    if sa.make_url(url).get_backend_name() == "sqlite":
        return [ChatmemInProcess(url), CommunityPeer(url)]
    return [ChatmemInProcess(url), CommunityPeer(url), LangchainPostgresPeer(url)]
