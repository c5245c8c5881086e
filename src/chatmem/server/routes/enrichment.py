"""The enrichment queue: ``GET /api/v1/enrichment/queue`` (depth, lag, dead jobs) and a retry of dead jobs.

chatmem's own extension; Zep 0.x had no such route.
"""

from __future__ import annotations

from fastapi import APIRouter

from chatmem.access.roles import Principal
from chatmem.enrich import queue
from chatmem.server.deps import Caller, Db
from chatmem.server.responses import JSON
from chatmem.server.wire import status_json

router = APIRouter(prefix="/api/v1/enrichment", tags=["enrichment"])


@router.get("/queue", operation_id="get_enrichment_queue")
def get_queue(db: Db, caller: Caller) -> JSON:
    """The caller's tenant's jobs (every tenant's for an admin of the default tenant)."""
    return JSON(status_json(queue.status(db, tenant_id=_scope(caller))))


@router.post("/queue/retry-dead", operation_id="retry_dead_enrichment_jobs")
def retry_dead(db: Db, caller: Caller) -> JSON:
    return JSON({"retried": queue.retry_dead(db, tenant_id=_scope(caller))})


def _scope(caller: Principal) -> int | None:
    return None if caller.is_operator else caller.tenant_id
