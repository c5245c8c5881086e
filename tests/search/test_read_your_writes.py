"""A search right after an acknowledged append finds that append's messages, whatever the search type
and scope, before any worker has embedded them (read-your-writes)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from chatmem.server.routes.search import RANKED_BY_TEXT_HEADER
from tests.search.conftest import EMBEDDING, add, client, contents
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]

# No worker: nothing is ever embedded in the background, so only the search can see these.
NO_WORKER = {**EMBEDDING, "enrich_workers": 0}
NEW = "I just adopted a puppy, a small terrier called Biscuit."


@pytest.mark.parametrize("scope", ["session", "user"])
def test_an_append_is_found_by_the_next_search_of_every_type(
    fresh_server: Server, sid: str, scope: str
) -> None:
    with fresh_server(**NO_WORKER) as server, client(server) as api:
        user = f"u-{sid}"
        assert api.post("/user", json={"user_id": user}).status_code == 201
        assert api.post("/sessions", json={"session_id": sid, "user_id": user}).status_code == 201
        path = f"/sessions/{sid}" if scope == "session" else f"/user/{user}"
        add(api, sid, ("human", "The quarterly report is due on Friday."))
        for search_type in ("similarity", "mmr", "hybrid", "text"):
            add(api, sid, ("ai", f"{NEW} ({search_type})"))
            words = "puppy terrier" if search_type == "text" else "my new dog"
            response = api.post(f"{path}/search", json={"text": words, "search_type": search_type})
            assert response.status_code == 200, response.text
            hits = response.json()
            assert RANKED_BY_TEXT_HEADER not in response.headers
            assert f"{NEW} ({search_type})" in contents(hits)[:4], search_type
            assert contents(hits)[0].startswith(NEW), search_type
            assert all(0 <= hit["dist"] <= 1 for hit in hits)


def test_beyond_the_bound_pending_messages_are_ranked_by_text_and_the_header_says_how_many(
    fresh_server: Server, sid: str
) -> None:
    with fresh_server(**NO_WORKER, search_pending_max=2) as server, client(server) as api:
        add(api, sid, ("human", "Biscuit the terrier chewed my slippers again."))
        add(api, sid, *(("human", f"filler message number {i} about the weather") for i in range(4)))
        response = api.post(
            f"/sessions/{sid}/search", json={"text": "terrier slippers", "search_type": "similarity"}
        )
        assert response.status_code == 200
        # The two newest were embedded with the query; the other three waited, ranked by their text.
        assert response.headers[RANKED_BY_TEXT_HEADER] == "3"
        hits = response.json()
        assert "Biscuit the terrier chewed my slippers again." in contents(hits)
        assert len(hits) == 3  # the 2 embedded fillers and the text match; fillers have no word in common
        assert [hit["dist"] for hit in hits] == sorted((hit["dist"] for hit in hits), reverse=True)


def test_deleted_messages_are_not_found_while_pending(fresh_server: Server, sid: str) -> None:
    with fresh_server(**NO_WORKER) as server, client(server) as api:
        add(api, sid, ("human", NEW))
        assert api.delete(f"/sessions/{sid}/memory").status_code == 200
        response = api.post(f"/sessions/{sid}/search", json={"text": "my new dog"})
        assert response.status_code == 200
        assert response.json() == []
