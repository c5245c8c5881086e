"""LangChain's Zep classes (langchain-community 0.4, langchain-classic 1.0) against chatmem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import RunClient

pytestmark = pytest.mark.compat


def message(kind: str, content: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": kind, "content": content, "metadata": metadata, "has_uuid": True}


@pytest.fixture(scope="session")
def observed(run_client: RunClient) -> dict[str, Any]:
    return run_client("langchain_zep.py")


@pytest.mark.parametrize("variant", ["history", "history_unicode"])
def test_chat_message_history_round_trip(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["empty"] == []
    assert run["messages"] == [
        message("HumanMessage", "What is the capital of France?", {"lang": "en"}),
        message("AIMessage", "Paris."),
        message("HumanMessage", "And of Italy?"),
        message("AIMessage", "Rome."),
    ]
    assert run["roles"] == ["human", "ai", "human", "ai"]


@pytest.mark.parametrize("variant", ["history", "history_unicode"])
def test_chat_message_history_has_no_summary_yet(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["summary"] == ""
    assert run["has_system_message"] is False


@pytest.mark.parametrize("variant", ["history", "history_unicode", "async_history"])
def test_chat_message_history_clear_empties_it(observed: dict[str, Any], variant: str) -> None:
    assert observed[variant]["after_clear"] == []


def test_async_chat_message_history(observed: dict[str, Any]) -> None:
    assert observed["async_history"]["messages"] == [
        message("HumanMessage", "ping"),
        message("AIMessage", "pong"),
    ]


def test_zep_memory_is_langchain_classics_buffer_memory(observed: dict[str, Any]) -> None:
    assert observed["memory"]["base_classes"][0] == "langchain_classic.memory.buffer.ConversationBufferMemory"


def test_zep_memory_save_context_and_load_memory_variables(observed: dict[str, Any]) -> None:
    run = observed["memory"]
    assert run["text"] == {
        "history": "Human: Hi, I am Ada.\nAI: Hello Ada!\nHuman: What is my name?\nAI: Ada."
    }
    assert run["messages"] == [
        message("HumanMessage", "Hi, I am Ada."),
        message("AIMessage", "Hello Ada!"),
        message("HumanMessage", "What is my name?"),
        message("AIMessage", "Ada."),
    ]


def test_zep_retriever_connects(observed: dict[str, Any]) -> None:
    assert observed["retriever"]["built"] == "ZepRetriever"
