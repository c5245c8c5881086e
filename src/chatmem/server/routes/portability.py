"""Export (admin): ``GET /api/v1/admin/export`` streams the caller's tenant as the JSON Lines dump of
``chatmem export`` (docs/portability.md)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from chatmem.portability.export import Selection, export_lines, parse_since
from chatmem.server.deps import Caller, Db

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/export", operation_id="export_tenant", response_class=StreamingResponse)
def export_tenant(
    db: Db,
    caller: Caller,
    user_id: str | None = None,
    session_id: str | None = None,
    since: str | None = None,
    with_embeddings: bool = False,
) -> StreamingResponse:
    """The tenant's users, sessions, summaries and messages, one JSON object per line, streamed in
    constant memory (the lines are produced in the thread pool as the client reads them)."""
    selection = Selection(
        user_id or None, session_id or None, parse_since(since) if since else None, with_embeddings
    )
    return StreamingResponse(
        export_lines(db, caller.tenant_id, caller.tenant, selection),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="chatmem-export.jsonl"'},
    )
