"""Token counts: tiktoken cl100k_base on "role: content", filled in by the background worker."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import bpe_openai

from chatmem.enrich import tokens
from tests.enrich.conftest import FAST, wait_for
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]


def test_cl100k_counts_match_an_independent_implementation_offline() -> None:
    reference = bpe_openai.get_encoding("cl100k_base")
    for text in [
        "human: Hello, world!",
        "ai: Ünïcödé ✓ and emoji 🎉",
        "system: <|endoftext|> is just text",
        "",
    ]:
        assert tokens.count_text(text) == len(reference.encode(text, disallowed_special=()))
    assert tokens.count_message("human", "Hello, world!") == tokens.count_text("human: Hello, world!")


def test_messages_get_their_token_counts_in_the_background(fresh_server: Server, sid: str) -> None:
    with fresh_server(**FAST) as server, server.client("/api/v1", timeout=30) as api:
        sent = [
            {"role": "human", "content": "What is the capital of France?"},
            {"role": "ai", "content": "Paris is the capital of France."},
            {"role": "human", "content": "counted by me", "token_count": 99},
        ]
        assert api.post(f"/sessions/{sid}/memory", json={"messages": sent}).status_code == 200

        def counted() -> list[int] | None:
            got = [m["token_count"] for m in api.get(f"/sessions/{sid}/messages").json()["messages"]]
            return got if all(got) else None

        got = wait_for(counted, what="token counts")
        assert got == [
            tokens.count_message("human", "What is the capital of France?"),
            tokens.count_message("ai", "Paris is the capital of France."),
            99,  # a count the client sent is kept
        ]
        assert got[0] > 5


def test_token_counts_can_be_switched_off(fresh_server: Server, sid: str) -> None:
    with (
        fresh_server(**{**FAST, "token_counts": False}) as server,
        server.client("/api/v1", timeout=30) as api,
    ):
        api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "hello"}]})
        wait_for(lambda: api.get("/enrichment/queue").json()["depth"] == 0, what="an empty queue")
        assert api.get(f"/sessions/{sid}/messages").json()["messages"][0]["token_count"] == 0
