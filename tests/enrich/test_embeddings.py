"""Embeddings of messages and summaries: the real local model, and an OpenAI-compatible endpoint."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import sqlalchemy as sa

from chatmem.config import Settings
from chatmem.embeddings import LocalEmbedder, make_embedder
from chatmem.enrich import vectors
from chatmem.enrich.reembed import reembed
from chatmem.store.tables import message_embeddings, summary_embeddings
from tests.enrich.conftest import FAST, rows, wait_for
from tests.enrich.fake_openai import FakeOpenAI, fake_vector
from tests.support import LiveServer

Server = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture(scope="session")
def local_model() -> LocalEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole test run (later loads reuse it)."""
    embedder = LocalEmbedder()
    embedder.load()
    return embedder


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def stored(server: LiveServer, count: int) -> list[dict[str, object]] | None:
    got = rows(server.db, sa.select(message_embeddings).order_by(message_embeddings.c.seq))
    return got if len(got) >= count else None


def test_local_model_embeds_messages_with_384_dimensions(
    fresh_server: Server, sid: str, local_model: LocalEmbedder
) -> None:
    texts = ["I adopted a puppy last week.", "My new dog is a small terrier.", "The stock market fell today."]
    settings = {**FAST, "embeddings": "local"}
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        messages = [{"role": "human", "content": t} for t in texts] + [{"role": "ai", "content": "  "}]
        api.post(f"/sessions/{sid}/memory", json={"messages": messages})
        got = wait_for(lambda: stored(server, 3), what="message embeddings")
        wait_for(lambda: api.get("/enrichment/queue").json()["depth"] == 0, what="an empty queue")
        got = stored(server, 3) or []
    assert len(got) == 3  # the blank message has nothing to embed
    assert {(r["model"], r["dimensions"]) for r in got} == {("all-MiniLM-L6-v2", 384)}
    dog, terrier, stocks = (vectors.unpack(r["vector"]) for r in got)  # type: ignore[arg-type]
    assert cosine(dog, terrier) > cosine(dog, stocks) + 0.2
    # The stored vectors are the model's own (which equal sentence-transformers': tests/embeddings).
    for vector, expected in zip((dog, terrier, stocks), local_model.embed(texts), strict=True):
        assert cosine(vector, [float(x) for x in expected]) > 0.9999


def test_openai_embeddings_are_batched_and_stored(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    settings = {
        **FAST,
        "embeddings": "openai",
        "openai_base_url": "http://127.0.0.1:9/unused",
        "openai_embeddings_base_url": url,
        "openai_api_key": "sk-embed",
        "embeddings_model": "nomic-embed-text",
        "embeddings_batch_size": 2,
    }
    texts = [f"text number {i}" for i in range(5)]
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        api.post(
            f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": t} for t in texts]}
        )
        got = wait_for(lambda: stored(server, 5), what="message embeddings")
    calls = fake.calls("/embeddings")
    assert [len(c.body["input"]) for c in calls] == [2, 2, 1]
    assert {c.body["model"] for c in calls} == {"nomic-embed-text"}
    assert calls[0].headers["Authorization"] == "Bearer sk-embed"
    for row, text in zip(got, texts, strict=True):
        assert (row["model"], row["dimensions"]) == ("nomic-embed-text", 8)
        assert vectors.unpack(row["vector"]) == pytest.approx(fake_vector(text), abs=1e-6)  # type: ignore[arg-type]


def test_summaries_are_embedded_too(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    _fake, url = fake_openai
    settings = {
        **FAST,
        "embeddings": "openai",
        "openai_base_url": url,
        "summarizer": "extractive",
        "message_window": 4,
    }
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        api.post(
            f"/sessions/{sid}/memory",
            json={"messages": [{"role": "human", "content": f"fact {i}."} for i in range(4)]},
        )
        got = wait_for(lambda: rows(server.db, sa.select(summary_embeddings)), what="a summary embedding")
        summary = api.get(f"/sessions/{sid}/memory").json()["summary"]
    assert len(got) == 1
    assert vectors.unpack(got[0]["vector"]) == pytest.approx(fake_vector(summary["content"]), abs=1e-6)


def test_a_model_answering_with_unexpected_dimensions_is_reported_not_stored(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    _fake, url = fake_openai
    settings = {
        **FAST,
        "embeddings": "openai",
        "openai_base_url": url,
        "embeddings_dimensions": 1536,
        "enrich_max_attempts": 1,
    }
    with fresh_server(**settings) as server, server.client("/api/v1", timeout=30) as api:
        api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "hi"}]})
        queue = wait_for(lambda: (q := api.get("/enrichment/queue").json())["dead"] and q, what="a dead job")
        assert queue["dead_jobs"][0]["last_error"] == "DimensionMismatchError"
        assert rows(server.db, sa.select(message_embeddings)) == []


def test_a_model_change_replaces_the_stored_vectors(
    fresh_server: Server, sid: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    base = {**FAST, "embeddings": "openai", "openai_base_url": url}
    with fresh_server(**{**base, "embeddings_model": "small"}) as server:
        with server.client("/api/v1", timeout=30) as api:
            api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": "hi"}]})
            wait_for(lambda: stored(server, 1), what="first embedding")
        # Another model, with wider vectors, over the same rows: a re-embed after a model change. (Run
        # directly: a queued job could be taken by this server's own worker, whose model is "small".)
        fake.dimensions = 16
        settings = Settings(**{**server.settings.model_dump(), "embeddings_model": "large"})
        embedder = make_embedder(settings)
        assert embedder is not None
        assert reembed(server.db, embedder) == 1
        got = stored(server, 1) or []
    assert [(r["model"], r["dimensions"]) for r in got] == [("large", 16)]
