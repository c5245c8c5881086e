"""LangChain's Zep classes: ZepChatMessageHistory, ZepMemory (langchain_classic) and ZepRetriever."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from _common import SPACE_UNICODE, arguments, emit

with warnings.catch_warnings():
    # langchain-community announces its own sunset on import; that is not what this checks.
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.chat_message_histories import ZepChatMessageHistory
    from langchain_community.memory.zep_memory import ZepMemory
    from langchain_community.retrievers import ZepRetriever
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage


def shape(message: BaseMessage) -> dict[str, Any]:
    return {
        "type": type(message).__name__,
        "content": message.content,
        "metadata": message.additional_kwargs.get("metadata"),
        "has_uuid": bool(message.additional_kwargs.get("uuid")),
    }


def history(base_url: str, session_id: str) -> dict[str, Any]:
    chat = ZepChatMessageHistory(session_id=session_id, url=base_url)
    empty = chat.messages
    chat.add_user_message("What is the capital of France?", metadata={"lang": "en"})
    chat.add_ai_message("Paris.")
    chat.add_messages([HumanMessage(content="And of Italy?"), AIMessage(content="Rome.")])
    stored = chat.messages
    zep_messages = chat.zep_messages
    summary = chat.zep_summary
    chat.clear()
    return {
        "empty": [shape(m) for m in empty],
        "messages": [shape(m) for m in stored],
        "roles": [m.role for m in zep_messages],
        "summary": summary,
        "has_system_message": any(isinstance(m, SystemMessage) for m in stored),
        "after_clear": [shape(m) for m in chat.messages],
    }


async def async_history(base_url: str, session_id: str) -> dict[str, Any]:
    chat = ZepChatMessageHistory(session_id=session_id, url=base_url)
    await chat.aadd_messages([HumanMessage(content="ping"), AIMessage(content="pong")])
    stored = await chat.aget_messages()
    await chat.aclear()
    return {"messages": [shape(m) for m in stored], "after_clear": [shape(m) for m in chat.messages]}


def memory(base_url: str, session_id: str) -> dict[str, Any]:
    buffer = ZepMemory(session_id=session_id, url=base_url, memory_key="history")
    buffer.save_context({"input": "Hi, I am Ada."}, {"output": "Hello Ada!"})
    buffer.save_context({"input": "What is my name?"}, {"output": "Ada."})
    as_text = buffer.load_memory_variables({})
    as_messages = ZepMemory(session_id=session_id, url=base_url, return_messages=True)
    loaded = as_messages.load_memory_variables({})["history"]
    return {
        # Without langchain_classic, langchain-community silently swaps in an empty placeholder class.
        "base_classes": [cls.__module__ + "." + cls.__name__ for cls in ZepMemory.__mro__[1:3]],
        "text": as_text,
        "messages": [shape(m) for m in loaded],
    }


def retriever(base_url: str, session_id: str) -> dict[str, Any]:
    # Construction runs the SDK's health probe against chatmem; searching needs the search endpoint,
    # which comes with its own issue.
    built = ZepRetriever(session_id=session_id, url=base_url, top_k=3)
    return {"built": type(built).__name__, "session_id": built.session_id}


def main() -> None:
    base_url, prefix = arguments()
    emit(
        {
            "history": history(base_url, f"{prefix}-history"),
            "history_unicode": history(base_url, f"{prefix} {SPACE_UNICODE}"),
            "async_history": asyncio.run(async_history(base_url, f"{prefix}-async")),
            "memory": memory(base_url, f"{prefix}-memory"),
            "retriever": retriever(base_url, f"{prefix}-retriever"),
        }
    )


if __name__ == "__main__":
    main()
