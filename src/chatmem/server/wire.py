"""Records to the exact JSON shapes of Zep 0.27.2 (reference §3)."""

from __future__ import annotations

from typing import Any

from chatmem.memory.records import MessageRecord, SessionRecord, SummaryRecord, UserRecord

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
