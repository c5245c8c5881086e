"""Sessions: ``/api/v1/sessions`` and ``/api/v1/sessions/{session_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from chatmem.memory import sessions
from chatmem.models import CreateSessionRequest, UpdateSessionRequest
from chatmem.server.deps import AppSettings, Caller, Db
from chatmem.server.params import parse_bool
from chatmem.server.responses import JSON
from chatmem.server.routes.paging import page_request, page_response
from chatmem.server.wire import session_json

router = APIRouter(prefix="/api/v1", tags=["sessions"])


@router.get("/sessions", operation_id="list_sessions")
async def list_sessions(
    db: Db,
    caller: Caller,
    settings: AppSettings,
    request: Request,
    limit: str | None = None,
    cursor: str | None = None,
    after: str | None = None,
) -> JSON:
    """Live sessions in creation order. ``cursor`` skips that many live sessions; ``after`` continues
    from the ``X-Next-Cursor`` header of a previous page in O(page)."""
    wanted = page_request(settings.max_page_size, limit, cursor, after)
    page = await db.aread_plan(sessions.list_sessions_plan(caller.tenant_id, wanted), rows=wanted.limit or 0)
    return page_response(request, page, session_json)


@router.post("/sessions", operation_id="add_session", status_code=201)
async def add_session(db: Db, caller: Caller, body: CreateSessionRequest) -> JSON:
    record = await db.awrite_plan(
        sessions.create_session_plan(
            caller.tenant_id, body.session_id, user_id=body.user_id, metadata=body.metadata
        )
    )
    return JSON(session_json(record), status_code=201)


@router.get("/sessions/{session_id:id}", operation_id="get_session")
async def get_session(db: Db, caller: Caller, session_id: str) -> JSON:
    return JSON(session_json(await db.aread_plan(sessions.get_session_plan(caller.tenant_id, session_id))))


@router.patch("/sessions/{session_id:id}", operation_id="update_session")
async def update_session(
    db: Db, caller: Caller, session_id: str, body: UpdateSessionRequest, upsert: str | None = None
) -> JSON:
    """Merge metadata into the session (404 if it is not live). With ``upsert=true`` a missing
    session is created instead, owned by the body's ``user_id`` if one is given."""
    if parse_bool("upsert", upsert):
        plan = sessions.update_or_create_session_plan(
            caller.tenant_id, session_id, body.metadata, user_id=body.user_id
        )
    else:
        plan = sessions.update_session_plan(caller.tenant_id, session_id, body.metadata)
    record = await db.awrite_plan(plan)
    return JSON(session_json(record))
