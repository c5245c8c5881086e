"""ZepClient construction (health probe, version check) and how server errors reach the caller."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from typing import Any

import httpx
from _common import aerror_of, arguments, emit, error_of
from zep_python import ZepClient
from zep_python.memory import Memory, Message, Session
from zep_python.user import CreateUserRequest, UpdateUserRequest


def construction(base_url: str) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ZepClient(base_url).close()
        # A trailing slash on the base URL is what many configs carry; the SDK strips it.
        ZepClient(base_url + "/").close()
    health = httpx.get(f"{base_url}/healthz")
    return {
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "healthz_status": health.status_code,
        "healthz_text": health.text,
        "version_header": health.headers.get("X-Zep-Version"),
    }


def errors(client: ZepClient, prefix: str) -> dict[str, Any]:
    user_id = f"{prefix}-user"
    session_id = f"{prefix}-session"
    client.user.add(CreateUserRequest(user_id=user_id))
    client.memory.add_session(Session(session_id=session_id))
    client.memory.add_memory(session_id, Memory(messages=[Message(role="human", content="hi")]))
    missing = f"{prefix}-missing"
    return {
        "duplicate_user": error_of(lambda: client.user.add(CreateUserRequest(user_id=user_id))),
        "unknown_user_get": error_of(lambda: client.user.get(missing)),
        "unknown_user_update": error_of(lambda: client.user.update(UpdateUserRequest(user_id=missing))),
        "unknown_user_delete": error_of(lambda: client.user.delete(missing)),
        "duplicate_session": error_of(lambda: client.memory.add_session(Session(session_id=session_id))),
        "session_of_unknown_user": error_of(
            lambda: client.memory.add_session(Session(session_id=f"{prefix}-orphan", user_id=missing))
        ),
        "unknown_session_get": error_of(lambda: client.memory.get_session(missing)),
        "unknown_session_update": error_of(
            lambda: client.memory.update_session(Session(session_id=missing, metadata={"a": 1}))
        ),
        "unknown_session_delete": error_of(lambda: client.memory.delete_memory(missing)),
        "negative_lastn": error_of(lambda: client.memory.get_memory(session_id, lastn=-1)),
        "unknown_message_get": error_of(
            lambda: client.message.get_session_message(session_id, str(uuid.uuid4()))
        ),
        "malformed_message_uuid": error_of(
            lambda: client.message.get_session_message(session_id, "not-a-uuid")
        ),
        "unknown_message_update": error_of(
            lambda: client.message.update_message_metadata(
                session_id, str(uuid.uuid4()), {"metadata": {"a": 1}}
            )
        ),
    }


async def async_errors(client: ZepClient, prefix: str) -> dict[str, Any]:
    user_id = f"{prefix}-auser"
    await client.user.aadd(CreateUserRequest(user_id=user_id))
    missing = f"{prefix}-amissing"
    return {
        "duplicate_user": await aerror_of(lambda: client.user.aadd(CreateUserRequest(user_id=user_id))),
        "unknown_session_get": await aerror_of(lambda: client.memory.aget_session(missing)),
        "unknown_session_delete": await aerror_of(lambda: client.memory.adelete_memory(missing)),
        "unknown_user_get": await aerror_of(lambda: client.user.aget(missing)),
    }


async def async_client(base_url: str, prefix: str) -> dict[str, Any]:
    async with ZepClient(base_url) as client:
        return await async_errors(client, prefix)


def main() -> None:
    base_url, prefix = arguments()
    result = construction(base_url)
    with ZepClient(base_url) as client:
        result["errors"] = errors(client, prefix)
    result["async_errors"] = asyncio.run(async_client(base_url, prefix))
    emit(result)


if __name__ == "__main__":
    main()
