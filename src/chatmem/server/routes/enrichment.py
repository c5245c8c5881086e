"""The enrichment queue: ``GET /api/v1/enrichment/queue`` (depth, lag, dead jobs) and a retry of dead jobs.

chatmem's own extension; Zep 0.x had no such route.
"""

from __future__ import annotations

from fastapi import APIRouter

from chatmem.enrich import queue
from chatmem.server.deps import Db
from chatmem.server.responses import JSON

router = APIRouter(prefix="/api/v1/enrichment", tags=["enrichment"])


def status_json(status: queue.QueueStatus, *, error_text: bool = False) -> dict[str, object]:
    """The queue as JSON. A dead job's ``last_error`` is only the error's type (``OpenAIError``)
    unless ``error_text``: the text can hold what an upstream LLM or database said, which is for the
    operator's terminal (``chatmem queue status``), not for an HTTP route anyone can reach."""
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
                "last_error": job.last_error if error_text else _error_type(job.last_error),
                "updated_at": job.updated_at,
            }
            for job in status.dead_jobs
        ],
    }


def _error_type(error: str | None) -> str | None:
    # Workers record "Type: text" (chatmem.enrich.worker).
    return error.split(":", 1)[0] if error else error


@router.get("/queue", operation_id="get_enrichment_queue")
def get_queue(db: Db) -> JSON:
    return JSON(status_json(queue.status(db)))


@router.post("/queue/retry-dead", operation_id="retry_dead_enrichment_jobs")
def retry_dead(db: Db) -> JSON:
    return JSON({"retried": queue.retry_dead(db)})
