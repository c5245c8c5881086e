"""POST /sessions/{id}/search: Zep's payload and result shape, every search type, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.search.conftest import EMBEDDING, add, client, contents, search, settle
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]

CHAT = [
    ("human", "I adopted a puppy last week, a small terrier."),
    ("ai", "Congratulations on the new dog! Terriers are full of energy."),
    ("human", "The stock market fell sharply today and my portfolio is down."),
    ("ai", "Markets are volatile; a diversified portfolio helps in the long run."),
    ("human", "Can you recommend a pasta recipe with tomatoes and basil?"),
    ("ai", "Try spaghetti al pomodoro: tomatoes, garlic, olive oil and fresh basil."),
]


@pytest.fixture
def chat(eapi: httpx.Client, sid: str) -> str:
    add(eapi, sid, *CHAT)
    settle(eapi)
    return f"/sessions/{sid}"


def test_similarity_ranks_by_meaning_and_reports_a_similarity(eapi: httpx.Client, chat: str) -> None:
    hits = search(eapi, chat, limit=3, text="my pet dog", search_type="similarity")
    assert len(hits) == 3
    assert {hits[0]["message"]["content"], hits[1]["message"]["content"]} == {CHAT[0][1], CHAT[1][1]}
    dists = [hit["dist"] for hit in hits]
    assert dists == sorted(dists, reverse=True) and 0 < dists[0] <= 1
    assert all(hit["summary"] is None and hit["embedding"] is None for hit in hits)
    assert {"uuid", "created_at", "role", "content", "token_count"} <= set(hits[0]["message"])


def test_the_sdk_payload_with_its_nulls_is_accepted_and_limit_defaults_to_ten(
    eapi: httpx.Client, sid: str
) -> None:
    add(eapi, sid, *[("human", f"note number {i} about gardening") for i in range(12)])
    settle(eapi)
    payload: dict[str, Any] = {
        "text": "gardening",
        "metadata": None,
        "search_scope": "messages",
        "search_type": "similarity",
        "mmr_lambda": None,
    }
    assert len(search(eapi, f"/sessions/{sid}", **payload)) == 10
    assert len(search(eapi, f"/sessions/{sid}", limit=4, **payload)) == 4


def test_text_search_ranks_keyword_matches(eapi: httpx.Client, chat: str) -> None:
    hits = search(eapi, chat, text="tomatoes basil recipe", search_type="text")
    assert contents(hits)[0] == CHAT[4][1] or contents(hits)[0] == CHAT[5][1]
    assert set(contents(hits)) == {CHAT[4][1], CHAT[5][1]}
    assert hits[0]["dist"] >= hits[1]["dist"] > 0


def test_hybrid_fuses_keyword_and_meaning(eapi: httpx.Client, chat: str) -> None:
    hits = search(eapi, chat, limit=2, text="portfolio investing losses", search_type="hybrid")
    assert set(contents(hits)) == {CHAT[2][1], CHAT[3][1]}
    assert hits[0]["dist"] <= 1.0


def test_mmr_returns_diverse_results_with_their_embeddings(eapi: httpx.Client, sid: str) -> None:
    add(
        eapi,
        sid,
        ("human", "My dog loves long walks in the park."),
        ("human", "My dog really loves long walks in the park!"),
        ("human", "My cat sleeps all day on the sofa."),
    )
    settle(eapi)
    plain = search(eapi, f"/sessions/{sid}", limit=2, text="dog walks", search_type="similarity")
    diverse = search(eapi, f"/sessions/{sid}", limit=2, text="dog walks", search_type="mmr", mmr_lambda=0.3)
    assert "cat" not in " ".join(contents(plain))
    assert any("cat" in text for text in contents(diverse))
    assert all(len(hit["embedding"]) == 384 for hit in diverse)


def test_summary_scope_is_empty_before_any_summary(eapi: httpx.Client, chat: str) -> None:
    # Summaries come from the enrichment worker; this server's summarizer is off, so none exist.
    assert search(eapi, chat, text="dog", search_scope="summary") == []


def test_summaries_are_searched_with_the_summary_scope(fresh_server: Server, sid: str) -> None:
    settings = {**EMBEDDING, "summarizer": "extractive", "message_window": 4}
    with fresh_server(**settings) as server, client(server) as api:
        add(api, sid, *CHAT)
        settle(api)
        for kind in ("similarity", "text", "hybrid", "mmr"):
            hits = search(
                api, f"/sessions/{sid}", text="terrier puppy", search_scope="summary", search_type=kind
            )
            assert len(hits) == 1, kind
            assert hits[0]["message"] is None and "terrier" in hits[0]["summary"]["content"]
            assert {"uuid", "content", "created_at", "token_count"} <= set(hits[0]["summary"])


def test_an_unknown_or_deleted_session_has_no_results(eapi: httpx.Client, chat: str) -> None:
    assert search(eapi, "/sessions/no-such-session", text="dog") == []
    assert eapi.delete(f"{chat}/memory").status_code == 200
    for kind in ("similarity", "text", "hybrid", "mmr"):
        assert search(eapi, chat, text="dog", search_type=kind) == []
    assert search(eapi, chat, metadata={"start_date": "2000-01-01"}) == []


def test_a_revived_session_finds_only_its_new_messages(eapi: httpx.Client, chat: str) -> None:
    eapi.delete(f"{chat}/memory")
    add(eapi, chat.removeprefix("/sessions/"), ("human", "A new beginning with my terrier dog."))
    settle(eapi)
    for kind in ("similarity", "text", "hybrid"):
        assert contents(search(eapi, chat, text="terrier dog", search_type=kind)) == [
            "A new beginning with my terrier dog."
        ]


BAD = [
    ({"text": ""}, "empty query"),
    ({"text": "  ", "metadata": {}}, "empty query"),
    ({"text": "x", "search_scope": "documents"}, "search_scope"),
    ({"text": "x", "search_type": "fuzzy"}, "search_type"),
    ({"metadata": {"where": {"jsonpath": "$.author == 'x'"}}}, "jsonpath"),
    ({"metadata": {"where": {"jsonpath": "strict $.a"}}}, "jsonpath"),
    ({"metadata": {"where": {"jsonpath": "$.a.type()"}}}, "jsonpath"),
    ({"metadata": {"where": {"jsonpath": '$ ? (@.a like_regex "x")'}}}, "jsonpath"),
    ({"metadata": {"where": {"jsonpath": 5}}}, "jsonpath"),
    ({"metadata": {"where": ["$"]}}, "where"),
    ({"metadata": {"where": {"and": {"jsonpath": "$"}}}}, "and"),
    ({"metadata": {"where": {"jsonPath": "$", "xor": []}}}, "where"),
    ({"metadata": {"start_date": "yesterday"}}, "start_date"),
    ({"text": "x", "search_type": "mmr", "mmr_lambda": 3}, "mmr_lambda"),
    ({"metadata": {"start_date": "2020-01-01"}, "search_type": "mmr"}, "mmr"),
    ({"text": 5}, "text"),
    ({"metadata": "where"}, "metadata"),
]


@pytest.mark.parametrize(("body", "mentions"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_payloads_are_a_400_with_a_message(
    api: httpx.Client, sid: str, body: dict[str, object], mentions: str
) -> None:
    add(api, sid, ("human", "hello"))
    response = api.post(f"/sessions/{sid}/search", json=body)
    assert response.status_code == 400, response.text
    assert mentions in response.json()["message"]


@pytest.mark.parametrize("limit", ["-1", "abc", "100000"])
def test_a_bad_limit_is_a_400(api: httpx.Client, sid: str, limit: str) -> None:
    response = api.post(
        f"/sessions/{sid}/search", params={"limit": limit}, json={"text": "x", "search_type": "text"}
    )
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


@pytest.mark.parametrize("search_type", ["similarity", "mmr", "text", "hybrid"])
def test_dist_is_a_similarity_between_0_and_1_for_every_search_type(
    eapi: httpx.Client, chat: str, search_type: str
) -> None:
    hits = search(eapi, chat, limit=6, text="dog terrier puppy energy", search_type=search_type)
    assert hits
    dists = [hit["dist"] for hit in hits]
    assert all(0 <= dist <= 1 for dist in dists), dists
    if search_type != "mmr":  # MMR's order trades similarity for diversity
        assert dists == sorted(dists, reverse=True)
    assert contents(hits)[0] in {CHAT[0][1], CHAT[1][1]}
