"""The fast path of GET and POST memory answers well-formed requests itself and leaves everything else
to the app.

Through the server the whole suite exercises it (every memory request goes through it first); here
it is called directly, to see which requests it answers and that the ones it declines changed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from starlette.types import Message, Scope, Send

from chatmem.base.errors import ChatmemError, NotFoundError
from chatmem.config import Settings
from chatmem.memory.messages import list_messages_plan
from chatmem.memory.sessions import get_session_plan
from chatmem.server import guard
from chatmem.server.fast_routes import FastRoutes
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT_ID
from tests.support import LiveServer, migrated


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Iterator[Database]:
    with migrated(backend, tmp_path) as database:
        yield database


Answer = tuple[bool, int | None, bytes]


def call(db: Database, path: str, body: bytes, *, method: str = "POST", query: bytes = b"") -> Answer:
    """Call the fast path as the transport middleware does: (handled, status, response body)."""
    scope: dict[str, object] = {"type": "http", "method": method, "path": path, "query_string": query}
    # The middleware answers a body the guard refuses with 400; the fast path then sees no parsed body.
    with contextlib.suppress(ChatmemError):
        scope["chatmem.json"] = guard.check_body(body)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> bool:
        try:
            return await FastRoutes(db, Settings(message_window=3))(scope, body, send)
        finally:
            await db.aclose()

    handled = asyncio.run(run())
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    return handled, status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def stored(db: Database, session_id: str) -> list[str] | None:
    """The session's messages, None when the session does not exist."""
    try:
        db.read_plan(get_session_plan(DEFAULT_TENANT_ID, session_id))
    except NotFoundError:
        return None
    return [
        m.content
        for m in db.read_plan(list_messages_plan(DEFAULT_TENANT_ID, session_id, limit=100, page=1)).messages
    ]


def body(*contents: str, **extra: Any) -> bytes:
    return orjson.dumps({"messages": [{"role": "user", "content": c, **extra} for c in contents]})


def test_a_well_formed_append_is_answered_and_stored(db: Database) -> None:
    assert call(db, "/api/v1/sessions/s1/memory", body("one", "two")) == (True, 200, b"OK")
    assert call(db, "/api/v1/sessions/s1/memory", body("three", metadata={"k": 1})) == (True, 200, b"OK")
    assert stored(db, "s1") == ["one", "two", "three"]


def test_an_encoded_slash_stays_inside_the_session_id(db: Database) -> None:
    assert call(db, "/api/v1/sessions/a%2Fb%25c/memory", body("hi"))[0]
    assert stored(db, "a/b%c") == ["hi"]


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"not json",
        b"[]",
        b'{"messages": "many"}',
        b'{"messages": [{"role": "user"}]}',
        b'{"messages": [{"role": "user", "content": "x", "token_count": -1}]}',
        b'{"messages": [{"role": "user", "content": "nul \\u0000 inside"}]}',
        b'{"messages": [{"role": "user", "content": "x", "uuid": "not-a-uuid"}]}',
    ],
    ids=[
        "empty",
        "not-json",
        "array",
        "messages-not-a-list",
        "no-content",
        "negative-tokens",
        "nul",
        "bad-uuid",
    ],
)
def test_a_body_it_does_not_accept_is_left_to_the_app_and_changes_nothing(db: Database, sent: bytes) -> None:
    assert call(db, "/api/v1/sessions/s1/memory", sent) == (False, None, b"")
    assert stored(db, "s1") is None


def test_other_requests_are_left_to_the_app(db: Database) -> None:
    assert call(db, "/api/v1/sessions/s1/memory", body("x"), method="PUT")[0] is False
    assert call(db, "/api/v1/sessions/s1/messages", body("x"))[0] is False
    assert call(db, "/api/v1/sessions", b'{"session_id": "s1"}')[0] is False
    assert call(db, "/api/v1/sessions/" + "x" * 5000 + "/memory", body("x"))[0] is False  # id too long
    assert stored(db, "s1") is None


def test_an_unavailable_database_is_a_503_with_a_json_message(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unavailable(plan: object) -> None:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(db, "awrite", unavailable)
    handled, status, answer = call(db, "/api/v1/sessions/s1/memory", body("x"))
    assert (handled, status) == (True, 503)
    assert orjson.loads(answer) == {"message": "the database is unavailable; retry the request"}


def get(db: Database, session_id: str, query: bytes = b"") -> Answer:
    return call(db, f"/api/v1/sessions/{session_id}/memory", b"", method="GET", query=query)


def contents(answer: Answer) -> list[str]:
    return [m["content"] for m in orjson.loads(answer[2])["messages"]]


def test_get_memory_is_answered_with_the_window_or_the_last_n(db: Database) -> None:
    call(db, "/api/v1/sessions/s1/memory", body("1", "2", "3", "4", "5"))
    answer = get(db, "s1")
    assert answer[:2] == (True, 200)
    assert contents(answer) == ["3", "4", "5"]  # the configured window
    assert orjson.loads(answer[2])["summary"]["content"] == ""
    assert contents(get(db, "s1", b"lastn=2")) == ["4", "5"]
    assert contents(get(db, "s1", b"lastn=")) == ["3", "4", "5"]
    assert contents(get(db, "s1", b"lastn=9&lastn=1&other=x")) == ["5"]  # the last value wins, as in FastAPI
    assert contents(get(db, "unknown")) == []


@pytest.mark.parametrize("query", [b"lastn=-1", b"lastn=two", b"lastn=1.5"])
def test_get_memory_with_a_bad_lastn_is_left_to_the_app(db: Database, query: bytes) -> None:
    assert get(db, "s1", query) == (False, None, b"")


JSON = {"content-type": "application/json"}


def fast_path_answers(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What FastRoutes returns for each request it is offered from now on (True: it answered)."""
    answers: list[bool] = []
    offer = FastRoutes.__call__

    async def recorded(self: FastRoutes, scope: Scope, body: bytes, send: Send) -> bool:
        answers.append(await offer(self, scope, body, send))
        return answers[-1]

    monkeypatch.setattr(FastRoutes, "__call__", recorded)
    return answers


def test_with_the_fast_path_off_no_request_reaches_it(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]], sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = fast_path_answers(monkeypatch)
    with (
        fresh_server(fast_path=False) as server,
        server.client("/api/v1", headers=JSON) as api,
    ):
        assert api.post(f"/sessions/{sid}/memory", content=body("1")).text == "OK"
        assert [m["content"] for m in api.get(f"/sessions/{sid}/memory").json()["messages"]] == ["1"]
    assert answers == []


def test_under_a_root_path_the_fastapi_routes_answer_get_and_post_memory(
    fresh_server: Callable[..., AbstractContextManager[LiveServer]], sid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = fast_path_answers(monkeypatch)
    with (
        fresh_server(root_path="/chat") as server,
        server.client("/api/v1", headers=JSON) as api,
    ):
        assert api.post(f"/sessions/{sid}%2Fx/memory", content=body("1", "2", "3")).text == "OK"
        assert api.post(f"/sessions/{sid}%2Fx/memory", content=body("4", metadata={"k": 1})).text == "OK"
        answer = api.get(f"/sessions/{sid}%2Fx/memory", params={"lastn": 2})
        assert answer.status_code == 200
        assert [m["content"] for m in answer.json()["messages"]] == ["3", "4"]
        assert answer.json()["messages"][1]["metadata"] == {"k": 1}
        assert api.get(f"/sessions/{sid}%2Fx").json()["session_id"] == f"{sid}/x"
        assert api.post(f"/sessions/{sid}/memory", content=b"not json").status_code == 400
        assert api.get(f"/sessions/{sid}/memory", params={"lastn": "two"}).status_code == 400
        assert api.get(f"/sessions/{sid}").status_code == 404
    assert answers and not any(answers)  # offered every request, answered none
