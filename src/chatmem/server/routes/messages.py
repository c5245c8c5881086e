"""Messages: ``/api/v1/sessions/{session_id}/messages[/{uuid}]``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from chatmem.base.errors import BadRequestError
from chatmem.base.validation import MAX_INT
from chatmem.memory import messages
from chatmem.models import UpdateMessageRequest
from chatmem.server.deps import AppSettings, Caller, Db
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
async def list_messages(
    db: Db,
    caller: Caller,
    settings: AppSettings,
    session_id: str,
    limit: str | None = None,
    cursor: str | None = None,
) -> JSON:
    """Messages oldest first; ``cursor`` is a 1-based page number and ``limit`` the page size (at most
    CHATMEM_MAX_PAGE_SIZE, which is also the size without ``limit``)."""
    size = parse_int("limit", limit, minimum=0, maximum=settings.max_page_size) or settings.max_page_size
    number = parse_int("cursor", cursor, minimum=0, maximum=MAX_INT // size) or 1
    page = await db.aread_plan(
        messages.list_messages_plan(caller.tenant_id, session_id, limit=size, page=number), rows=size
    )
    return JSON(
        {
            "messages": [message_json(record) for record in page.messages],
            "total_count": page.total_count,
            "row_count": len(page.messages),
        }
    )


@router.get("/sessions/{session_id:id}/messages/{message_uuid}", operation_id="get_session_message")
async def get_message(db: Db, caller: Caller, session_id: str, message_uuid: str) -> JSON:
    record = await db.aread_plan(
        messages.get_message_plan(caller.tenant_id, session_id, _message_uuid(message_uuid))
    )
    return JSON(message_json(record))


@router.patch("/sessions/{session_id:id}/messages/{message_uuid}", operation_id="update_message_metadata")
async def update_message(
    db: Db, caller: Caller, session_id: str, message_uuid: str, body: UpdateMessageRequest
) -> JSON:
    record = await db.awrite_plan(
        messages.update_message_metadata_plan(
            caller.tenant_id, session_id, _message_uuid(message_uuid), body.metadata
        )
    )
    return JSON(message_json(record))
