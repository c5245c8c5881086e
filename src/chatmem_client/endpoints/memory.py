"""Sessions and their memory: ``/api/v1/sessions[/{id}[/memory|/search]]``."""

from __future__ import annotations

from chatmem_client.call import (
    Call,
    Paged,
    api_path,
    keyset_pages,
    read_list,
    read_model,
    read_text,
    require_id,
)
from chatmem_client.models import (
    AddMemoryRequest,
    CreateSessionRequest,
    Memory,
    MemorySearchPayload,
    MemorySearchResult,
    MessageIn,
    Session,
    UpdateSessionRequest,
)


def add_session(session: Session) -> Call[Session]:
    """Create ``session`` (201). Re-using the id of a deleted session revives it; a live one is a 400.

    ``session.user_id``, if set, must name an existing user.
    """
    require_id("session_id", session.session_id)
    body = CreateSessionRequest(
        session_id=session.session_id, user_id=session.user_id, metadata=session.metadata
    )
    return Call("POST", api_path("sessions"), read_model(Session), json=body.model_dump(exclude_none=True))


def update_session(session: Session) -> Call[Session]:
    """Merge ``session.metadata`` into the stored metadata (RFC 7396: a ``None`` value removes a key).

    A session that does not exist (or was deleted) is created with that metadata and
    ``session.user_id``, just as adding memory creates one. The user of an existing session never
    changes.
    """
    require_id("session_id", session.session_id)
    body = UpdateSessionRequest(metadata=session.metadata, user_id=session.user_id)
    return Call(
        "PATCH",
        api_path("sessions", session.session_id),
        read_model(Session),
        params={"upsert": "true"},
        json=body.model_dump(exclude_none=True),
    )


def get_session(session_id: str) -> Call[Session]:
    """The live session ``session_id``; ``NotFoundError`` if it does not exist or was deleted."""
    return Call("GET", api_path("sessions", require_id("session_id", session_id)), read_model(Session))


def delete_memory(session_id: str) -> Call[str]:
    """Soft-delete the session and all of its messages; ``NotFoundError`` if it is not live."""
    return Call("DELETE", api_path("sessions", require_id("session_id", session_id), "memory"), read_text)


def list_sessions(limit: int | None = None, cursor: int | None = None) -> Call[list[Session]]:
    """Live sessions in creation order: ``limit`` of them (all if None) after skipping ``cursor``."""
    params = {key: value for key, value in (("limit", limit), ("cursor", cursor)) if value is not None}
    return Call("GET", api_path("sessions"), read_list(Session), params=params)


def list_all_sessions(chunk_size: int = 100) -> Paged[Session]:
    """Every live session exactly once, in creation order, in lists of up to ``chunk_size``.

    Pages follow the server's keyset cursor, so each costs the same however deep it is, and
    sessions deleted meanwhile never make the iteration skip or repeat another one.
    """
    return keyset_pages(api_path("sessions"), Session, chunk_size)


def add_memory(session_id: str, memory: Memory) -> Call[str]:
    """Append ``memory.messages`` (creating or reviving the session). Messages that carry a ``uuid``
    are stored once however often they are sent. Answers ``"OK"``."""
    body = AddMemoryRequest(
        messages=[
            MessageIn(
                role=m.role, content=m.content, uuid=m.uuid, metadata=m.metadata, token_count=m.token_count
            )
            for m in memory.messages
        ]
    )
    return Call(
        "POST",
        api_path("sessions", require_id("session_id", session_id), "memory"),
        read_text,
        json=body.model_dump(mode="json", exclude_none=True),
    )


def get_memory(session_id: str, lastn: int | None = None) -> Call[Memory]:
    """The newest ``lastn`` messages (default: the server's message window), oldest first.

    An unknown or deleted session has no messages (not an error, as in Zep).
    """
    params = {} if lastn is None else {"lastn": lastn}
    return Call(
        "GET",
        api_path("sessions", require_id("session_id", session_id), "memory"),
        read_model(Memory),
        params=params,
    )


def search_memory(
    session_id: str, payload: MemorySearchPayload, limit: int | None = None
) -> Call[list[MemorySearchResult]]:
    """Search one session's messages or summaries (``payload.search_scope``), best match first."""
    params = {} if limit is None else {"limit": limit}
    return Call(
        "POST",
        api_path("sessions", require_id("session_id", session_id), "search"),
        read_list(MemorySearchResult),
        params=params,
        # Sent with its nulls, as zep-python does.
        json=payload.model_dump(mode="json"),
    )
