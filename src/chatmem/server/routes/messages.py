"""Messages: ``/api/v1/sessions/{session_id}/messages[/{uuid}]``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from chatmem.base.errors import BadRequestError
from chatmem.memory import messages
from chatmem.models import UpdateMessageRequest
from chatmem.server.deps import Db
from chatmem.server.params import parse_int
from chatmem.server.responses import JSON
from chatmem.server.wire import message_json

router = APIRouter(prefix="/api/v1", tags=["messages"])


def _message_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequestError(f"message uuid is not a valid UUID: {raw!r}") from None


@router.get("/sessions/{session_id:id}/messages", operation_id="get_session_messages")
async def list_messages(db: Db, session_id: str, limit: str | None = None, cursor: str | None = None) -> JSON:
    """Messages oldest first; ``cursor`` is a 1-based page number and ``limit`` the page size."""
    page = await db.aread_plan(
        messages.list_messages_plan(
            session_id,
            limit=parse_int("limit", limit, minimum=0) or None,
            page=parse_int("cursor", cursor, minimum=0) or 1,
        )
    )
    return JSON(
        {
            "messages": [message_json(record) for record in page.messages],
            "total_count": page.total_count,
            "row_count": len(page.messages),
        }
    )


@router.get("/sessions/{session_id:id}/messages/{message_uuid}", operation_id="get_session_message")
async def get_message(db: Db, session_id: str, message_uuid: str) -> JSON:
    record = await db.aread_plan(messages.get_message_plan(session_id, _message_uuid(message_uuid)))
    return JSON(message_json(record))


@router.patch("/sessions/{session_id:id}/messages/{message_uuid}", operation_id="update_message_metadata")
async def update_message(db: Db, session_id: str, message_uuid: str, body: UpdateMessageRequest) -> JSON:
    record = await db.awrite_plan(
        messages.update_message_metadata_plan(session_id, _message_uuid(message_uuid), body.metadata)
    )
    return JSON(message_json(record))
