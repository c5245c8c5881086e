"""The OpenAPI document as the server behaves, not as FastAPI guesses from the handlers.

The handlers parse their query values themselves (Zep's leniency: ``?limit=`` means "not given") and
return ready-made JSON, so FastAPI's own document would type every limit as a string, describe no
response body, promise 422 (never sent: every validation error is a 400) and call ``OK`` JSON. Here each
operation gets its real success body (the wire models of ``chatmem.models``, or ``text/plain``), the
error statuses it can answer with the ``{"message"}`` body, and the integer parameters their bounds.
``tests/test_openapi.py`` checks this against the app, and schemathesis checks it against the server.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from chatmem.base.validation import MAX_INT
from chatmem.config import Settings
from chatmem.models import Memory, MemorySearchResult, Message, Session, User, WireModel
from chatmem.portability.erase import EraseReceipt


class ErrorBody(BaseModel):
    """Every error: a human-readable message (the SDKs read only the status)."""

    message: str


class MessageList(WireModel):
    messages: list[Message]
    total_count: int
    row_count: int


class KindCounts(BaseModel):
    queued: int
    running: int
    dead: int


class DeadJob(BaseModel):
    session_id: str
    id: str
    kind: str
    seq_lo: int
    seq_hi: int
    attempts: int
    last_error: str | None
    updated_at: str


class QueueStatus(BaseModel):
    depth: int
    dead: int
    lag_seconds: float
    kinds: dict[str, KindCounts]
    dead_jobs: list[DeadJob]


class Retried(BaseModel):
    retried: int


class ApiKey(BaseModel):
    id: str
    tenant: str
    role: str
    name: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class CreatedKey(ApiKey):
    key: str


class Tenant(BaseModel):
    id: int
    name: str
    created_at: dt.datetime


class Purged(BaseModel):
    sessions: int
    messages: int


TEXT = "text/plain"
NDJSON = "application/x-ndjson"
# operation id -> (success status, success body: a type for JSON, TEXT for Zep's plain "OK")
SUCCESS: dict[str, tuple[int, Any]] = {
    "get_memory": (200, Memory),
    "add_memory": (200, TEXT),
    "delete_memory": (200, TEXT),
    "get_session_messages": (200, MessageList),
    "get_session_message": (200, Message),
    "update_message_metadata": (200, Message),
    "search_memory": (200, list[MemorySearchResult]),
    "search_user_memory": (200, list[MemorySearchResult]),
    "list_sessions": (200, list[Session]),
    "add_session": (201, Session),
    "get_session": (200, Session),
    "update_session": (200, Session),
    "add_user": (201, User),
    "list_users": (200, list[User]),
    "get_user": (200, User),
    "update_user": (200, User),
    "delete_user": (200, TEXT),
    "get_user_sessions": (200, list[Session]),
    "get_enrichment_queue": (200, QueueStatus),
    "retry_dead_enrichment_jobs": (200, Retried),
    "list_keys": (200, list[ApiKey]),
    "create_key": (201, CreatedKey),
    "revoke_key": (200, TEXT),
    "list_tenants": (200, list[Tenant]),
    "create_tenant": (201, Tenant),
    "delete_tenant": (200, TEXT),
    "purge": (200, Purged),
    "export_tenant": (200, NDJSON),
}
# A second body some operations answer with: DELETE user with ?erase=true answers the receipt.
ALSO_JSON: dict[str, Any] = {"delete_user": EraseReceipt}

ERRORS = {
    400: "bad input: a malformed value, a limit exceeded (docs/limits.md), a Host not allowed",
    404: "no such session, message or user",
    408: "the request body did not arrive in time",
    413: "the request body is larger than CHATMEM_MAX_REQUEST_SIZE",
    415: "a write without Content-Type: application/json",
    503: "the database is unavailable; retry",
}
_WRITE_ERRORS = (408, 413, 415)


def _integer(minimum: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def _parameters(settings: Settings, operation_id: str) -> dict[str, dict[str, Any]]:
    """Schemas of the query parameters the handlers parse themselves."""
    page = settings.max_page_size
    return {
        "limit": _integer(0, settings.search_max_limit if "search" in operation_id else page),
        "lastn": _integer(0, settings.max_lastn),
        # A page number for messages, an offset elsewhere.
        "cursor": _integer(0, MAX_INT // page if operation_id == "get_session_messages" else MAX_INT),
        "after": {"type": "string", "description": "the X-Next-Cursor of the previous page"},
        "upsert": {"type": "boolean"},
    }


def describe(app: FastAPI, settings: Settings) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components["ErrorBody"] = _schema(ErrorBody, components)
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            status, body = SUCCESS[operation["operationId"]]
            if body == TEXT:
                content: dict[str, Any] = {TEXT: {"schema": {"type": "string", "enum": ["OK"]}}}
            elif body == NDJSON:
                content = {NDJSON: {"schema": {"type": "string"}}}
            else:
                content = {"application/json": {"schema": _schema(body, components)}}
            if operation["operationId"] in ALSO_JSON:
                also = _schema(ALSO_JSON[operation["operationId"]], components)
                content["application/json"] = {"schema": also}
            responses: dict[str, Any] = {str(status): {"description": "success", "content": content}}
            codes = [400, 503]
            if operation.get("parameters") and any(p["in"] == "path" for p in operation["parameters"]):
                codes.append(404)
            if method in ("post", "put", "patch"):
                codes.extend(_WRITE_ERRORS)
            for code in sorted(codes):
                responses[str(code)] = {"description": ERRORS[code], "content": error_content}
            operation["responses"] = responses
            typed = _parameters(settings, operation["operationId"])
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query" and parameter["name"] in typed:
                    parameter["schema"] = typed[parameter["name"]]
    return document


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    components.update(schema.pop("$defs", {}))
    if isinstance(model, type) and issubclass(model, BaseModel):
        components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}
    return schema


def install_openapi(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
