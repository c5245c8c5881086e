"""Hybrid search looks up pending messages and ranks by keyword on a connection of its own, beside the
query embedding and the vector ranking (``search/service.py``, ``_SideHalf``). What a client sees must
not change: rows deleted while the side half ran never come back, an error on either side is the
response it was, with every connection returned, and a search whose side threads are busy answers the
same doing it all itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from chatmem.base.errors import BadRequestError
from chatmem.search import fulltext, pending, vectors
from chatmem.search.service import Searcher
from chatmem.search.side import SidePool
from tests.search.conftest import EMBEDDING, add, client, contents, settle
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]

# No worker: the messages stay pending, so the vector half finds them only by read-your-writes.
NO_WORKER = {**EMBEDDING, "enrich_workers": 0}
TERRIER = "Biscuit the terrier chewed my slippers again."


def _in_side_half() -> bool:
    return threading.current_thread().name.startswith("chatmem-search")


def _connections_in_use(server: LiveServer) -> int:
    return sum(in_use for name, in_use, _idle, _most in server.db.pool_usage() if name in ("reader", "sync"))


@pytest.mark.parametrize("scope", ["session", "user"])
@pytest.mark.parametrize("filtered", [False, True], ids=["unfiltered", "filtered"])
def test_rows_deleted_while_the_side_half_ran_are_not_returned(
    fresh_server: Server, sid: str, scope: str, filtered: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The side half reads the rows before the delete commits, the rest of the search after it: the
    search answers as of the delete (``DELETE .../memory`` soft-deletes the session), never with the
    deleted rows its keyword list still names. (With a filter, which every row passes here, there is no
    adjacent-turn expansion to drop them on its way.)"""
    with fresh_server(**NO_WORKER) as server, client(server) as api, client(server) as other:
        user = f"u-{sid}"
        assert api.post("/user", json={"user_id": user}).status_code == 201
        for session_id in (sid, f"{sid}-kept"):
            assert api.post("/sessions", json={"session_id": session_id, "user_id": user}).status_code == 201
        add(api, sid, ("human", TERRIER), ("ai", "A terrier needs long walks."))
        # Found by the user search through its vector half only: no word in common.
        add(api, f"{sid}-kept", ("human", "The quarterly report is due on Friday."))
        kept = [] if scope == "session" else ["The quarterly report is due on Friday."]
        path = f"/sessions/{sid}" if scope == "session" else f"/user/{user}"
        keyword_rows: list[Any] = []
        deleted = threading.Event()
        rank = fulltext.rank
        ranked = Searcher._ranked

        def rank_then_delete(*args: Any, **kwargs: Any) -> Any:
            found = rank(*args, **kwargs)
            if _in_side_half() and not deleted.is_set():
                keyword_rows.extend(found)
                gone = other.delete(f"/sessions/{sid}/memory")
                assert gone.status_code == 200, gone.text
                deleted.set()
            return found

        def rest_after_the_delete(self: Searcher, *args: Any, **kwargs: Any) -> Any:
            deleted.wait(timeout=30)
            return ranked(self, *args, **kwargs)

        monkeypatch.setattr(fulltext, "rank", rank_then_delete)
        monkeypatch.setattr(Searcher, "_ranked", rest_after_the_delete)
        body: dict[str, Any] = {"text": "terrier slippers", "search_type": "hybrid"}
        if filtered:
            body["metadata"] = {"start_date": "2000-01-01"}
        response = api.post(f"{path}/search", json=body)
        assert response.status_code == 200, response.text
        assert deleted.is_set() and len(keyword_rows) == 2  # the side half did see both rows
        assert contents(response.json()) == kept
        # And for every later search.
        later = api.post(f"{path}/search", json=body)
        assert contents(later.json()) == kept


@pytest.mark.parametrize("failing", ["pending lookup", "keyword ranking", "vector ranking"])
def test_an_error_in_either_half_of_a_hybrid_search_is_a_400_and_returns_every_connection(
    fresh_server: Server, sid: str, failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pending lookup and the keyword ranking run in the side half, the vector ranking in the
    request's thread: whichever fails, the client gets that error's response, not a 500."""
    with fresh_server(**NO_WORKER) as server, client(server) as api:
        add(api, sid, ("human", TERRIER))
        originals: dict[str, Callable[..., Any]] = {
            "pending lookup": pending.find,
            "keyword ranking": fulltext.rank,
            "vector ranking": vectors.rank,
        }

        def failing_in(step: str) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                if step == failing and (_in_side_half() or step == "vector ranking"):
                    raise BadRequestError(f"the {step} refused this")
                return originals[step](*args, **kwargs)

            return call

        monkeypatch.setattr(pending, "find", failing_in("pending lookup"))
        monkeypatch.setattr(fulltext, "rank", failing_in("keyword ranking"))
        monkeypatch.setattr(vectors, "rank", failing_in("vector ranking"))
        for _ in range(3):  # more than the side pool's threads: none is left stuck
            response = api.post(f"/sessions/{sid}/search", json={"text": "terrier", "search_type": "hybrid"})
            assert response.status_code == 400, response.text
            assert f"the {failing} refused this" in response.json()["message"]
            assert _connections_in_use(server) == 0
        monkeypatch.undo()
        response = api.post(f"/sessions/{sid}/search", json={"text": "terrier", "search_type": "hybrid"})
        assert response.status_code == 200, response.text
        assert contents(response.json()) == [TERRIER]


def test_a_bad_filter_on_a_hybrid_search_is_still_a_400(fresh_server: Server, sid: str) -> None:
    with fresh_server(**NO_WORKER) as server, client(server) as api:
        add(api, sid, ("human", TERRIER))
        response = api.post(
            f"/sessions/{sid}/search",
            json={
                "text": "terrier",
                "search_type": "hybrid",
                "metadata": {"where": {"jsonpath": "$.a == 1"}},
            },
        )
        assert response.status_code == 400, response.text
        assert _connections_in_use(server) == 0


@pytest.mark.parametrize("scope", ["session", "user"])
@pytest.mark.parametrize("stored", [True, False], ids=["embedded", "pending"])
def test_a_search_that_finds_the_side_threads_busy_answers_the_same(
    fresh_server: Server, sid: str, scope: str, stored: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every side thread taken, a hybrid search does the side half's work itself: same hits, same
    order, same scores, filtered or not, whether the messages were embedded by the worker or are still
    pending (embedded with the query)."""
    with fresh_server(**(EMBEDDING if stored else NO_WORKER)) as server, client(server) as api:
        user = f"u-{sid}"
        assert api.post("/user", json={"user_id": user}).status_code == 201
        for session_id in (sid, f"{sid}-2"):
            assert api.post("/sessions", json={"session_id": session_id, "user_id": user}).status_code == 201
        add(api, sid, ("human", TERRIER), ("ai", "Terriers love to dig. Did he ruin the garden too?"))
        add(api, sid, ("human", "He dug up the tulips, yes."))
        add(api, f"{sid}-2", ("human", "We planted tulips in the garden."), ("ai", "Lovely, which colours?"))
        if stored:
            settle(api)
        path = f"/sessions/{sid}" if scope == "session" else f"/user/{user}"
        bodies: list[dict[str, Any]] = [
            {"text": "dog digging in the garden", "search_type": "hybrid"},
            {"text": "tulips", "search_type": "hybrid", "metadata": {"start_date": "2000-01-01"}},
        ]
        side_submit = SidePool.submit
        answers: dict[str, list[Any]] = {}
        for mode in ("beside", "busy"):
            monkeypatch.setattr(
                SidePool, "submit", side_submit if mode == "beside" else lambda _self, _call: None
            )
            answers[mode] = [api.post(f"{path}/search", json=body).json() for body in bodies]
        assert answers["beside"] == answers["busy"]
        assert all(answer for answer in answers["busy"])
