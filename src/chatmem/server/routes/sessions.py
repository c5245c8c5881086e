"""Sessions: ``/api/v1/sessions`` and ``/api/v1/sessions/{session_id}``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from chatmem.memory import sessions
from chatmem.models import CreateSessionRequest, UpdateSessionRequest
from chatmem.server import offload
from chatmem.server.deps import AppSettings, Db
from chatmem.server.params import parse_bool
from chatmem.server.responses import JSON
from chatmem.server.routes.paging import page_request, page_response
from chatmem.server.wire import session_json

router = APIRouter(prefix="/api/v1", tags=["sessions"])


@router.get("/sessions", operation_id="list_sessions")
async def list_sessions(
    db: Db,
    settings: AppSettings,
    request: Request,
    limit: str | None = None,
    cursor: str | None = None,
    after: str | None = None,
) -> JSON:
    """Live sessions in creation order. ``cursor`` skips that many live sessions; ``after`` continues
    from the ``X-Next-Cursor`` header of a previous page in O(page)."""
    wanted = page_request(settings.max_page_size, limit, cursor, after)
    page = await offload.read_rows(db, sessions.list_sessions, wanted.limit or 0, db, wanted)
    return page_response(request, page, session_json)


@router.post("/sessions", operation_id="add_session", status_code=201)
def add_session(db: Db, body: CreateSessionRequest) -> JSON:
    record = sessions.create_session(db, body.session_id, user_id=body.user_id, metadata=body.metadata)
    return JSON(session_json(record), status_code=201)


@router.get("/sessions/{session_id:id}", operation_id="get_session")
async def get_session(db: Db, session_id: str) -> JSON:
    return JSON(session_json(await db.aread_plan(sessions.get_session_plan(session_id))))


@router.patch("/sessions/{session_id:id}", operation_id="update_session")
async def update_session(
    db: Db, session_id: str, body: UpdateSessionRequest, upsert: str | None = None
) -> JSON:
    """Merge metadata into the session (404 if it is not live). With ``upsert=true`` a missing
    session is created instead, owned by the body's ``user_id`` if one is given."""
    if parse_bool("upsert", upsert):
        record = await run_in_threadpool(
            sessions.update_or_create_session, db, session_id, body.metadata, user_id=body.user_id
        )
    else:
        record = await db.awrite_plan(sessions.update_session_plan(session_id, body.metadata))
    return JSON(session_json(record))
