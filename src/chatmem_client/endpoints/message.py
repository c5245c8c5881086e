"""Messages of a session: ``/api/v1/sessions/{id}/messages[/{uuid}]``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from pydantic import BaseModel

from chatmem_client.call import Call, api_path, read_model, require_id
from chatmem_client.models import Message


class _MessageList(BaseModel):
    messages: list[Message]
    total_count: int | None = None
    row_count: int | None = None


def _read_messages(response: httpx.Response) -> list[Message]:
    return _MessageList.model_validate_json(response.content).messages


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def get_session_messages(session_id: str, limit: int = 100, cursor: int = 1) -> Call[list[Message]]:
    """Page ``cursor`` (1-based) of the session's messages, ``limit`` per page, oldest first."""
    params = {"limit": _positive("limit", limit), "cursor": _positive("cursor", cursor)}
    return Call(
        "GET",
        api_path("sessions", require_id("session_id", session_id), "messages"),
        _read_messages,
        params=params,
    )


def get_session_message(session_id: str, message_uuid: str | UUID) -> Call[Message]:
    """One message of the session; ``NotFoundError`` if the session or the message is unknown."""
    return Call(
        "GET",
        api_path("sessions", require_id("session_id", session_id), "messages", str(message_uuid)),
        read_model(Message),
    )


def update_message_metadata(
    session_id: str, message_uuid: str | UUID, metadata: dict[str, Any]
) -> Call[Message]:
    """Merge metadata into one message. ``metadata`` is the request body, ``{"metadata": {...}}``
    (as in zep-python); role, content and token count never change."""
    if not isinstance(metadata, dict) or "metadata" not in metadata:
        raise ValueError('pass the body {"metadata": {...}}, as zep-python does')
    return Call(
        "PATCH",
        api_path("sessions", require_id("session_id", session_id), "messages", str(message_uuid)),
        read_model(Message),
        json=metadata,
    )
