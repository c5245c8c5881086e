"""Progressive summaries with Zep's semantics, and GET memory returning the summary and what follows it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from chatmem.enrich import tokens
from chatmem.enrich.summarizers import ExtractiveSummarizer
from tests.enrich.conftest import FAST, wait_for
from tests.enrich.fake_openai import FakeOpenAI
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]
ZERO = "00000000-0000-0000-0000-000000000000"


def add(api: httpx.Client, sid: str, *contents: str) -> None:
    messages = [{"role": "human" if i % 2 == 0 else "ai", "content": c} for i, c in enumerate(contents)]
    assert api.post(f"/sessions/{sid}/memory", json={"messages": messages}).status_code == 200


def memory(api: httpx.Client, sid: str, query: str = "") -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/sessions/{sid}/memory{query}").json()
    return body


def summarized(api: httpx.Client, sid: str, point_content: str) -> dict[str, Any] | None:
    """The memory once its summary point is the message with ``point_content``."""
    uuids = {m["content"]: m["uuid"] for m in api.get(f"/sessions/{sid}/messages").json()["messages"]}
    body = memory(api, sid)
    return body if body["summary"]["recent_message_uuid"] == uuids.get(point_content) else None


def test_summary_appears_once_the_window_fills_and_memory_starts_after_its_point(
    fresh_server: Server, sid: str
) -> None:
    settings = {**FAST, "summarizer": "extractive", "message_window": 6}
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        for i in range(5):
            add(api, sid, f"Message number {i} is about gardening and tomatoes.")
        wait_for(lambda: api.get("/enrichment/queue").json()["depth"] == 0, what="an empty queue")
        assert memory(api, sid)["summary"]["uuid"] == ZERO  # fewer than a window: nothing folded

        add(api, sid, "Message number 5 is about gardening and tomatoes.")
        # window 6: the oldest 6 - 6 // 2 = 3 messages are folded, the summary point is message 2.
        body = wait_for(lambda: summarized(api, sid, "Message number 2 is about gardening and tomatoes."))
        assert [m["content"] for m in body["messages"]] == [
            f"Message number {i} is about gardening and tomatoes." for i in (3, 4, 5)
        ]
        summary = body["summary"]
        assert set(summary) == {"uuid", "created_at", "content", "recent_message_uuid", "token_count"}
        assert "Message number 0" in summary["content"]
        assert summary["token_count"] == tokens.count_text(summary["content"])
        # lastn overrides the messages only.
        with_lastn = memory(api, sid, "?lastn=5")
        assert [m["content"][:16] for m in with_lastn["messages"]] == [
            f"Message number {i}" for i in range(1, 6)
        ]
        assert with_lastn["summary"] == summary


def test_a_batch_larger_than_the_window_is_summarized_completely_skipping_blank_messages(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    settings = {
        **FAST,
        "summarizer": "openai",
        "openai_base_url": url,
        "openai_api_key": "sk-test",
        "summarizer_model": "my-model",
        "message_window": 4,
    }
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        contents = [f"line {i}" if i % 5 else "   " for i in range(1, 31)]  # every fifth is blank
        add(api, sid, *contents)
        nonblank = [c for c in contents if c.strip()]  # 24 of them; all but the newest 2 are folded
        body = wait_for(lambda: summarized(api, sid, nonblank[-3]), what="the summary of the whole batch")
        folded = "\n".join(call.body["messages"][0]["content"] for call in fake.calls("/chat/completions"))
        for content in nonblank[:-2]:
            assert f": {content}\n" in folded + "\n"
        assert "   " not in [line.partition(": ")[2] for line in folded.splitlines()]
        # After the point ("line 27"): "line 28", "line 29" and the blank "line 30".
        assert [m["content"] for m in body["messages"]] == contents[-3:]
        assert body["summary"]["content"].startswith("summary of")


def test_the_openai_summarizer_sends_the_configured_model_prompt_and_key(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    prompt = "PREVIOUS={prev_summary}\nNEW:\n{messages}\nSUMMARY:"
    settings = {
        **FAST,
        "summarizer": "openai",
        "openai_base_url": url,
        "openai_api_key": "sk-secret",
        "summarizer_model": "local-llama",
        "summarizer_prompt": prompt,
        "message_window": 4,
    }
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        add(api, sid, "a1", "b1", "a2", "b2")
        wait_for(lambda: summarized(api, sid, "b1"), what="first summary")
        add(api, sid, "a3", "b3")
        wait_for(lambda: summarized(api, sid, "b2"), what="second summary")
        first, second = fake.calls("/chat/completions")
        assert first.headers["Authorization"] == "Bearer sk-secret"
        assert first.body["model"] == "local-llama"
        assert first.body["temperature"] == 0
        assert first.body["messages"][0]["content"] == "PREVIOUS=\nNEW:\nhuman: a1\nai: b1\nSUMMARY:"
        # The running summary is the previous summary of the next fold.
        assert second.body["messages"][0]["content"].startswith("PREVIOUS=summary of 2 lines, last: ai: b1\n")


def test_summaries_of_a_deleted_history_are_gone_after_revival(fresh_server: Server, sid: str) -> None:
    settings = {**FAST, "summarizer": "extractive", "message_window": 4}
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        add(api, sid, "one", "two", "three", "four")
        wait_for(lambda: summarized(api, sid, "two"), what="summary")
        assert api.delete(f"/sessions/{sid}/memory").status_code == 200
        add(api, sid, "fresh start")
        body = memory(api, sid)
        assert body["summary"]["uuid"] == ZERO
        assert [m["content"] for m in body["messages"]] == ["fresh start"]


@pytest.mark.parametrize("size", [1, 3])
def test_extractive_summary_keeps_the_most_central_sentences_in_order(size: int) -> None:
    summarizer = ExtractiveSummarizer(size)
    lines = [
        "human: I love growing tomatoes in my garden.",
        "ai: Tomatoes in a garden need sun.",
        "human: My cat is called Felix.",
        "ai: Garden tomatoes need sun and water.",
    ]
    summary = summarizer.summarize("", lines).splitlines()
    assert len(summary) == size
    assert all("Felix" not in s for s in summary)  # the odd one out is the least central
    assert summary == [line for line in lines if line in summary]
