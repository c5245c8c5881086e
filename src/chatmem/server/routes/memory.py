"""Memory: ``/api/v1/sessions/{session_id}/memory`` (read the recent window, append, delete)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from chatmem.memory import messages, sessions
from chatmem.models import AddMemoryRequest
from chatmem.server.deps import AppSettings, Caller, Db
from chatmem.server.params import parse_lastn
from chatmem.server.responses import JSON, ok
from chatmem.server.wire import memory_json, new_messages

router = APIRouter(prefix="/api/v1", tags=["memory"])


@router.get("/sessions/{session_id:id}/memory", operation_id="get_memory")
async def get_memory(
    db: Db, caller: Caller, settings: AppSettings, session_id: str, lastn: str | None = None
) -> JSON:
    """The latest summary and the messages after its point (at most the configured message window),
    oldest first; ``lastn`` > 0 takes the newest ``lastn`` messages instead. An unknown or deleted
    session has no messages and the zero summary (200, as Zep >= 0.20).
    A request is answered by ``chatmem.server.fast_routes`` before it gets here; this route answers
    the ones that fast path leaves (and documents the API)."""
    count = parse_lastn(lastn, settings.max_lastn)
    window = settings.message_window
    plan = messages.recent_messages_plan(
        db.dialect_name, caller.tenant_id, session_id, window=window, lastn=count
    )
    memory = await db.aread_plan(plan, rows=count or window)
    return JSON(memory_json(memory))


@router.post("/sessions/{session_id:id}/memory", operation_id="add_memory")
async def add_memory(db: Db, caller: Caller, session_id: str, body: AddMemoryRequest) -> PlainTextResponse:
    """Append messages, creating the session if unknown and reviving it if deleted. A well-formed
    request is answered by ``chatmem.server.fast_routes`` before it gets here; this route answers the
    rest (and documents the API)."""
    await db.awrite_plan(
        messages.add_messages_plan(db.dialect_name, caller.tenant_id, session_id, new_messages(body))
    )
    return ok()


@router.delete("/sessions/{session_id:id}/memory", operation_id="delete_memory")
async def delete_memory(db: Db, caller: Caller, session_id: str) -> PlainTextResponse:
    """Soft-delete the session and all of its messages."""
    await db.awrite_plan(sessions.delete_session_plan(caller.tenant_id, session_id))
    return ok()
