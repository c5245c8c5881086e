"""Memory: ``/api/v1/sessions/{session_id}/memory`` (read the recent window, append, delete)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from chatmem.config import Settings
from chatmem.memory import messages, sessions
from chatmem.memory.records import MemoryRecord, NewMessage
from chatmem.models import AddMemoryRequest
from chatmem.server import offload
from chatmem.server.deps import AppSettings, Db
from chatmem.server.params import parse_int
from chatmem.server.responses import JSON, ok
from chatmem.server.wire import ZERO_SUMMARY, message_json, summary_json

router = APIRouter(prefix="/api/v1", tags=["memory"])


@router.get("/sessions/{session_id:id}/memory", operation_id="get_memory")
async def get_memory(db: Db, settings: AppSettings, session_id: str, lastn: str | None = None) -> JSON:
    """The latest summary and the messages after its point (at most the configured message window),
    oldest first; ``lastn`` > 0 takes the newest ``lastn`` messages instead. An unknown or deleted
    session has no messages and the zero summary (200, as Zep >= 0.20).
    A request is answered by ``chatmem.server.fast_routes`` before it gets here; this route answers
    the ones that fast path leaves (and documents the API)."""
    count = parse_lastn(settings, lastn)
    plan = messages.recent_messages_plan(
        db.dialect_name, session_id, window=settings.message_window, lastn=count
    )
    memory = await offload.read_plan(db, plan, rows=count or settings.message_window)
    return JSON(memory_json(memory))


def parse_lastn(settings: Settings, raw: str | None) -> int | None:
    """``lastn``: None or 0 is the window; above CHATMEM_MAX_LASTN is a 400."""
    return parse_int("lastn", raw, minimum=0, maximum=settings.max_lastn) or None


def memory_json(memory: MemoryRecord) -> dict[str, Any]:
    return {
        "messages": [message_json(record) for record in memory.messages],
        "summary": summary_json(memory.summary) if memory.summary is not None else ZERO_SUMMARY,
    }


def new_messages(body: AddMemoryRequest) -> list[NewMessage]:
    return [
        NewMessage(
            role=m.role, content=m.content, metadata=m.metadata, uuid=m.uuid, token_count=m.token_count or 0
        )
        for m in body.messages or ()
    ]


@router.post("/sessions/{session_id:id}/memory", operation_id="add_memory")
async def add_memory(db: Db, session_id: str, body: AddMemoryRequest) -> PlainTextResponse:
    """Append messages, creating the session if unknown and reviving it if deleted. A well-formed
    request is answered by ``chatmem.server.fast_routes`` before it gets here; this route answers the
    rest (and documents the API)."""
    await db.awrite_plan(messages.add_messages_plan(db.dialect_name, session_id, new_messages(body)))
    return ok()


@router.delete("/sessions/{session_id:id}/memory", operation_id="delete_memory")
def delete_memory(db: Db, session_id: str) -> PlainTextResponse:
    """Soft-delete the session and all of its messages."""
    sessions.delete_session(db, session_id)
    return ok()
