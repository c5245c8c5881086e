"""Users: ``/api/v1/user`` (singular, as in Zep) and a user's sessions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse

from chatmem.memory import sessions, users
from chatmem.models import CreateUserRequest, UpdateUserRequest
from chatmem.portability.erase import erase_user
from chatmem.server.deps import AppSettings, Caller, Db
from chatmem.server.params import parse_bool
from chatmem.server.responses import JSON, ok
from chatmem.server.routes.paging import page_request, page_response
from chatmem.server.wire import session_json, user_json

router = APIRouter(prefix="/api/v1", tags=["users"])


@router.post("/user", operation_id="add_user", status_code=201)
async def add_user(db: Db, caller: Caller, body: CreateUserRequest) -> JSON:
    record = await db.awrite_plan(
        users.create_user_plan(
            caller.tenant_id,
            body.user_id,
            email=body.email,
            first_name=body.first_name,
            last_name=body.last_name,
            metadata=body.metadata,
        )
    )
    return JSON(user_json(record), status_code=201)


@router.get("/user", operation_id="list_users")
async def list_users(
    db: Db,
    caller: Caller,
    settings: AppSettings,
    request: Request,
    limit: str | None = None,
    cursor: str | None = None,
    after: str | None = None,
) -> JSON:
    """Users in creation order, paged like sessions (``cursor`` offset or ``after`` keyset)."""
    wanted = page_request(settings.max_page_size, limit, cursor, after)
    page = await db.aread_plan(users.list_users_plan(caller.tenant_id, wanted), rows=wanted.limit or 0)
    return page_response(request, page, user_json)


@router.get("/user/{user_id:id}", operation_id="get_user")
async def get_user(db: Db, caller: Caller, user_id: str) -> JSON:
    return JSON(user_json(await db.aread_plan(users.get_user_plan(caller.tenant_id, user_id))))


@router.patch("/user/{user_id:id}", operation_id="update_user")
async def update_user(db: Db, caller: Caller, user_id: str, body: UpdateUserRequest) -> JSON:
    record = await db.awrite_plan(
        users.update_user_plan(
            caller.tenant_id,
            user_id,
            email=body.email,
            first_name=body.first_name,
            last_name=body.last_name,
            metadata=body.metadata,
        )
    )
    return JSON(user_json(record))


@router.delete("/user/{user_id:id}", operation_id="delete_user", response_model=None)
async def delete_user(
    db: Db, caller: Caller, user_id: str, erase: str | None = None
) -> PlainTextResponse | JSON:
    """Delete the user; its sessions are soft-deleted with all their messages. With ``erase=true``
    everything of the user is removed for good now, and the answer is the receipt (counts)."""
    if parse_bool("erase", erase):
        receipt = await run_in_threadpool(erase_user, db, caller.tenant_id, user_id)
        return JSON(receipt.as_json())
    await db.awrite_plan(users.delete_user_plan(caller.tenant_id, user_id))
    return ok()


@router.get("/user/{user_id:id}/sessions", operation_id="get_user_sessions")
async def get_user_sessions(
    db: Db,
    caller: Caller,
    settings: AppSettings,
    request: Request,
    user_id: str,
    limit: str | None = None,
    cursor: str | None = None,
    after: str | None = None,
) -> JSON:
    """The user's live sessions in creation order ([] for an unknown user, as in Zep)."""
    wanted = page_request(settings.max_page_size, limit, cursor, after)
    page = await db.aread_plan(
        sessions.list_sessions_plan(caller.tenant_id, wanted, user_id=user_id), rows=wanted.limit or 0
    )
    return page_response(request, page, session_json)
