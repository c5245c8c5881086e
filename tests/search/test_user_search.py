"""POST /user/{id}/search: every live session of one user, nobody else's."""

from __future__ import annotations

import uuid

import httpx

from tests.search.conftest import add, contents, search, settle


def test_user_search_covers_the_users_live_sessions_only(eapi: httpx.Client) -> None:
    user, other = f"u-{uuid.uuid4().hex}", f"u-{uuid.uuid4().hex}"
    for user_id in (user, other):
        assert eapi.post("/user", json={"user_id": user_id}).status_code == 201
    mine = [f"{user}-a", f"{user}-b", f"{user}-gone"]
    for session_id in mine:
        eapi.post("/sessions", json={"session_id": session_id, "user_id": user})
    eapi.post("/sessions", json={"session_id": f"{other}-a", "user_id": other})
    add(eapi, mine[0], ("human", "My terrier chewed my shoes."))
    add(eapi, mine[1], ("human", "Walking the dog in the rain."), ("ai", "Bring an umbrella."))
    add(eapi, mine[2], ("human", "My dog is the best dog."))
    add(eapi, f"{other}-a", ("human", "Someone else's dog."))
    settle(eapi)
    eapi.delete(f"/sessions/{mine[2]}/memory")
    for kind in ("similarity", "text", "hybrid", "mmr"):
        hits = search(eapi, f"/user/{user}", text="dog terrier", search_type=kind, limit=5)
        assert {hit["session_id"] for hit in hits} <= {mine[0], mine[1]}, kind
        assert "Someone else's dog." not in contents(hits)
        assert "My dog is the best dog." not in contents(hits)
    best = search(eapi, f"/user/{user}", text="dog", search_type="similarity", limit=2)
    assert {hit["session_id"] for hit in best} == {mine[0], mine[1]}
    assert search(eapi, "/user/no-such-user", text="dog") == []
