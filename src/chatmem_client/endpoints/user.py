"""Users: ``/api/v1/user[/{id}[/sessions]]`` (singular, as in Zep)."""

from __future__ import annotations

from chatmem_client.call import (
    Call,
    Paged,
    api_path,
    keyset_pages,
    read_list,
    read_model,
    read_nothing,
    require_id,
)
from chatmem_client.models import (
    CreateUserRequest,
    MemorySearchPayload,
    MemorySearchResult,
    Session,
    UpdateUserRequest,
    User,
)


def _paging(limit: int | None, cursor: int | None) -> dict[str, str | int]:
    return {key: value for key, value in (("limit", limit), ("cursor", cursor)) if value is not None}


def add_user(user: CreateUserRequest) -> Call[User]:
    """Create a user (201); an existing ``user_id`` is a 400 ``APIError``."""
    require_id("user_id", user.user_id)
    return Call("POST", api_path("user"), read_model(User), json=user.model_dump(exclude_none=True))


def get_user(user_id: str) -> Call[User]:
    return Call("GET", api_path("user", require_id("user_id", user_id)), read_model(User))


def update_user(user: UpdateUserRequest) -> Call[User]:
    """Change the given fields of ``user.user_id`` (``None`` and ``""`` leave a field as is) and
    merge its metadata."""
    user_id = require_id("user_id", user.user_id or "")
    body = user.model_dump(exclude_none=True, exclude={"user_id"})
    return Call("PATCH", api_path("user", user_id), read_model(User), json=body)


def delete_user(user_id: str) -> Call[None]:
    """Delete the user; its sessions are soft-deleted with all their messages."""
    return Call("DELETE", api_path("user", require_id("user_id", user_id)), read_nothing)


def list_users(limit: int | None = None, cursor: int | None = None) -> Call[list[User]]:
    """Users in creation order: ``limit`` of them (all if None) after skipping ``cursor``."""
    return Call("GET", api_path("user"), read_list(User), params=_paging(limit, cursor))


def list_users_chunked(chunk_size: int = 100) -> Paged[User]:
    """Every user exactly once, in creation order, in lists of up to ``chunk_size`` (keyset paging)."""
    return keyset_pages(api_path("user"), User, chunk_size)


def get_user_sessions(
    user_id: str, limit: int | None = None, cursor: int | None = None
) -> Call[list[Session]]:
    """The user's live sessions in creation order (``[]`` for an unknown user, as in Zep)."""
    return Call(
        "GET",
        api_path("user", require_id("user_id", user_id), "sessions"),
        read_list(Session),
        params=_paging(limit, cursor),
    )


def search_user(
    user_id: str, payload: MemorySearchPayload, limit: int | None = None
) -> Call[list[MemorySearchResult]]:
    """Search every live session of the user (chatmem's extension), best match first; each result's
    ``session_id`` names its session. An unknown user has no results."""
    params = {} if limit is None else {"limit": limit}
    return Call(
        "POST",
        api_path("user", require_id("user_id", user_id), "search"),
        read_list(MemorySearchResult),
        params=params,
        json=payload.model_dump(mode="json"),
    )
