"""Search: ``POST /api/v1/sessions/{id}/search`` (Zep's) and ``POST /api/v1/user/{id}/search`` (chatmem's)."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request

from chatmem.models import WireModel
from chatmem.search.query import build_query
from chatmem.search.service import Hit, Searcher
from chatmem.server.deps import AppSettings, Caller
from chatmem.server.params import parse_int
from chatmem.server.responses import JSON
from chatmem.server.wire import message_json, summary_json

router = APIRouter(prefix="/api/v1", tags=["search"])


class SearchRequest(WireModel):
    """Zep's ``MemorySearchPayload``; values are checked by ``build_query`` (bad ones are a 400)."""

    text: str | None = None
    metadata: Any = None
    search_scope: str | None = None
    search_type: str | None = None
    mmr_lambda: float | None = None


def _searcher(request: Request) -> Searcher:
    return cast(Searcher, request.app.state.searcher)


SearcherDep = Annotated[Searcher, Depends(_searcher)]


def _query(settings: AppSettings, body: SearchRequest, limit: str | None) -> Any:
    return build_query(
        text=body.text,
        metadata=body.metadata,
        search_scope=body.search_scope,
        search_type=body.search_type,
        mmr_lambda=body.mmr_lambda,
        limit=parse_int("limit", limit),
        default_type=settings.search_default_type,
        max_limit=settings.search_max_limit,
    )


def hit_json(hit: Hit, *, with_session: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": message_json(hit.message) if hit.message is not None else None,
        "summary": summary_json(hit.summary) if hit.summary is not None else None,
        "dist": hit.dist,
        "embedding": hit.embedding,
    }
    if with_session:
        body["session_id"] = hit.session_id
    return body


@router.post("/sessions/{session_id:id}/search", operation_id="search_memory")
def search_session(
    searcher: SearcherDep,
    caller: Caller,
    settings: AppSettings,
    session_id: str,
    body: SearchRequest,
    limit: str | None = None,
) -> JSON:
    """The session's messages (or summaries) that best match ``text`` and pass the metadata filter,
    best first. An unknown or deleted session has none (``[]``, as in Zep)."""
    hits = searcher.search_session(caller.tenant_id, session_id, _query(settings, body, limit))
    return JSON([hit_json(hit, with_session=False) for hit in hits])


@router.post("/user/{user_id:id}/search", operation_id="search_user_memory")
def search_user(
    searcher: SearcherDep,
    caller: Caller,
    settings: AppSettings,
    user_id: str,
    body: SearchRequest,
    limit: str | None = None,
) -> JSON:
    """Like session search, over every live session of the user; each result names its ``session_id``."""
    hits = searcher.search_user(caller.tenant_id, user_id, _query(settings, body, limit))
    return JSON([hit_json(hit, with_session=True) for hit in hits])
