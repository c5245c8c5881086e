"""Export (admin): ``GET /api/v1/admin/export`` streams the caller's tenant as the JSON Lines dump of
``chatmem export`` (docs/portability.md)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from chatmem.base.errors import BadRequestError
from chatmem.portability.export import Selection, export_lines
from chatmem.server.deps import Caller, Db

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


def _since(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestError(f"since is not an ISO 8601 time: {value!r}") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed


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
    selection = Selection(user_id or None, session_id or None, _since(since), with_embeddings)
    return StreamingResponse(
        export_lines(db, caller.tenant_id, caller.tenant, selection),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="chatmem-export.jsonl"'},
    )
