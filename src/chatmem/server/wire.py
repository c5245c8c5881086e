"""Records to the exact JSON shapes of Zep 0.27.2 (docs/compatibility.md), and request bodies to records.

Shared by the FastAPI routes, the fast path (``chatmem.server.fast_routes``) and the CLI."""

from __future__ import annotations

from typing import Any

from chatmem.enrich.queue import QueueStatus
from chatmem.memory.records import MemoryRecord, NewMessage
from chatmem.models import AddMemoryRequest
from chatmem.store.records import MessageRecord, SessionRecord, SummaryRecord, UserRecord

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
ZERO_TIME = "0001-01-01T00:00:00Z"
# What Zep returns as the summary of a session that has none: every field present, none null.
ZERO_SUMMARY: dict[str, Any] = {
    "uuid": ZERO_UUID,
    "created_at": ZERO_TIME,
    "content": "",
    "recent_message_uuid": ZERO_UUID,
    "token_count": 0,
}


def session_json(record: SessionRecord) -> dict[str, Any]:
    return {
        "uuid": record.uuid,
        "id": record.id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "deleted_at": None,
        "session_id": record.session_id,
        # zep-python <= 1.4.0 requires an object here, so never null.
        "metadata": record.metadata or {},
        "user_id": record.user_id,
    }


def message_json(record: MessageRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": record.uuid,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "role": record.role,
        "content": record.content,
        "token_count": record.token_count,
    }
    if record.metadata:
        body["metadata"] = record.metadata
    return body


def user_json(record: UserRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": record.uuid,
        "id": record.id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "deleted_at": None,
        "user_id": record.user_id,
    }
    for key in ("email", "first_name", "last_name"):
        value = getattr(record, key)
        if value:
            body[key] = value
    if record.metadata:
        body["metadata"] = record.metadata
    return body


def summary_json(record: SummaryRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": record.uuid,
        "created_at": record.created_at,
        "content": record.content,
        "recent_message_uuid": record.recent_message_uuid,
        "token_count": record.token_count,
    }
    if record.metadata:
        body["metadata"] = record.metadata
    return body


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


def status_json(status: QueueStatus, *, error_text: bool = False) -> dict[str, object]:
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
