"""zep-python 1.5.0 and LangChain with a chatmem API key, a Zep JWT, and bad credentials.

Called as ``python auth.py BASE_URL PREFIX KEY TOKEN``.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from typing import Any

from _common import arguments, emit
from zep_python import ZepClient
from zep_python.exceptions import AuthError
from zep_python.memory import Memory, Message
from zep_python.user import CreateUserRequest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.chat_message_histories import ZepChatMessageHistory


def round_trip(base_url: str, credential: str, session_id: str) -> dict[str, Any]:
    with ZepClient(base_url, api_key=credential) as client:
        client.memory.add_memory(session_id, Memory(messages=[Message(role="human", content="hello")]))
        client.user.add(CreateUserRequest(user_id=f"{session_id}-user"))
        return {
            "contents": [m.content for m in client.memory.get_memory(session_id).messages],
            "users": [u.user_id for u in client.user.list()],
        }


async def async_round_trip(base_url: str, credential: str, session_id: str) -> list[str]:
    async with ZepClient(base_url, api_key=credential) as client:
        await client.memory.aadd_memory(session_id, Memory(messages=[Message(role="ai", content="hi")]))
        return [m.content for m in (await client.memory.aget_memory(session_id)).messages]


def refused(base_url: str, credential: str | None) -> str | None:
    """The exception a read raises with this credential (the constructor's health probe is open)."""
    with ZepClient(base_url, api_key=credential) as client:
        try:
            client.memory.get_memory("anything")
        except Exception as exc:
            return type(exc).__name__
    return None


def langchain(base_url: str, credential: str, session_id: str) -> dict[str, Any]:
    chat = ZepChatMessageHistory(session_id=session_id, url=base_url, api_key=credential)
    chat.add_user_message("from langchain")
    chat.add_ai_message("noted")
    stored = [m.content for m in chat.messages]
    bad = ZepChatMessageHistory(session_id=session_id, url=base_url, api_key=credential + "x")
    try:
        bad.add_user_message("should not be stored")
        bad_error = None
    except AuthError as exc:
        bad_error = type(exc).__name__
    return {"stored": stored, "bad_error": bad_error, "after": [m.content for m in chat.messages]}


def main() -> None:
    base_url, prefix = arguments()
    key, token = sys.argv[3], sys.argv[4]
    emit(
        {
            "key": round_trip(base_url, key, f"{prefix}-key"),
            "token": round_trip(base_url, token, f"{prefix}-token"),
            "async_key": asyncio.run(async_round_trip(base_url, key, f"{prefix}-akey")),
            "refused": {
                "none": refused(base_url, None),
                "bad_key": refused(base_url, key[:-3] + "abc"),
                "bad_token": refused(base_url, token[:-3] + "abc"),
            },
            "langchain_key": langchain(base_url, key, f"{prefix}-lc-key"),
            "langchain_token": langchain(base_url, token, f"{prefix}-lc-token"),
        }
    )


if __name__ == "__main__":
    main()
