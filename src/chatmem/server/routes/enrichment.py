"""The enrichment queue: ``GET /api/v1/enrichment/queue`` (depth, lag, dead jobs) and a retry of dead jobs.

chatmem's own extension; Zep 0.x had no such route.
"""

from __future__ import annotations

from fastapi import APIRouter

from chatmem.enrich import queue
from chatmem.server.deps import Db
from chatmem.server.responses import JSON

router = APIRouter(prefix="/api/v1/enrichment", tags=["enrichment"])


def status_json(status: queue.QueueStatus) -> dict[str, object]:
    return {
        "depth": status.depth,
        "dead": status.dead,
        "lag_seconds": round(status.lag_seconds, 3),
        "kinds": {k.kind: {"queued": k.queued, "running": k.running, "dead": k.dead} for k in status.kinds},
        "dead_jobs": [
            {
                "session_id": job.session_id,
                "id": job.id,
                "kind": job.kind,
                "seq_lo": job.seq_lo,
                "seq_hi": job.seq_hi,
                "attempts": job.attempts,
                "last_error": job.last_error,
                "updated_at": job.updated_at,
            }
            for job in status.dead_jobs
        ],
    }


@router.get("/queue", operation_id="get_enrichment_queue")
def get_queue(db: Db) -> JSON:
    return JSON(status_json(queue.status(db)))


@router.post("/queue/retry-dead", operation_id="retry_dead_enrichment_jobs")
def retry_dead(db: Db) -> JSON:
    return JSON({"retried": queue.retry_dead(db)})
