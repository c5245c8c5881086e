"""Memory search through the real zep-python 1.5.0 SDK and LangChain's ZepRetriever."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import RunClient

pytestmark = pytest.mark.compat

PETS = {
    "I adopted a puppy last week, a small terrier named Rex.",
    "Congratulations on Rex! Terriers are full of energy.",
    "Rex chewed my running shoes this morning.",
    "Puppies chew when teething; try a chew toy.",
    "Rex learned to sit and stay today!",
}


@pytest.fixture(scope="session")
def observed(run_summarizing_client: RunClient) -> dict[str, Any]:
    return run_summarizing_client("search.py")


def test_similarity_search_returns_the_closest_messages_best_first(observed: dict[str, Any]) -> None:
    assert len(observed["similarity"]) == 3
    assert set(observed["similarity"]) <= PETS
    dists = observed["similarity_dists"]
    assert dists == sorted(dists, reverse=True)


def test_summary_scope_returns_summaries(observed: dict[str, Any]) -> None:
    assert observed["summary_ready"], "the chatmem serve process wrote no summary within 60 s"
    assert len(observed["summary"]) == 1 and "Rex" in observed["summary"][0]
    assert observed["summary_message"] == [None]


def test_mmr_and_filters_work_through_the_sdk(observed: dict[str, Any]) -> None:
    assert len(observed["mmr"]) == 3
    assert observed["filtered_topics"] == ["money"] and observed["filtered_count"] == 4
    assert observed["metadata_only"] == [
        "Sourdough needs a lively starter and patience.",
        "I also bake sourdough bread on weekends.",
        "Spaghetti al pomodoro: tomatoes, garlic, olive oil and basil.",
        "Can you recommend a pasta recipe with tomatoes?",
    ]
    assert observed["async"] == ["Can you recommend a pasta recipe with tomatoes?"] or observed["async"] == [
        "Spaghetti al pomodoro: tomatoes, garlic, olive oil and basil."
    ]
    assert observed["unknown"] == []


def test_langchain_zep_retriever_returns_documents(observed: dict[str, Any]) -> None:
    texts = [text for text, _keys in observed["retriever"]]
    assert set(texts) == {
        "The stock market fell sharply today.",
        "Markets are volatile; diversification helps.",
    }
    assert all({"score", "uuid", "role"} <= set(keys) for _text, keys in observed["retriever"])
    assert observed["retriever_scores"] == sorted(observed["retriever_scores"], reverse=True)
    assert len(observed["retriever_mmr"]) == 3
    assert len(observed["retriever_summary"]) == 1 and "Rex" in observed["retriever_summary"][0]
