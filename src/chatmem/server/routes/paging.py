"""List responses: a bare JSON array (as Zep), plus the keyset cursor in headers for deep paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Request

from chatmem.memory.paging import PageRequest
from chatmem.memory.records import Page
from chatmem.server.params import decode_keyset, encode_keyset, parse_int
from chatmem.server.responses import JSON

T = TypeVar("T")
NEXT_CURSOR_HEADER = "X-Next-Cursor"


def page_request(max_page: int, limit: str | None, cursor: str | None, after: str | None) -> PageRequest:
    """``cursor`` is an offset into the live rows (what the Zep SDK generators assume);
    ``after`` is the opaque keyset cursor from a previous response's ``X-Next-Cursor``.
    A page holds at most ``max_page`` rows (CHATMEM_MAX_PAGE_SIZE): a larger ``limit`` is a 400, and no
    ``limit`` means ``max_page``, with ``X-Next-Cursor`` pointing past it."""
    return PageRequest(
        limit=parse_int("limit", limit, minimum=0, maximum=max_page) or max_page,
        offset=parse_int("cursor", cursor, minimum=0) or 0,
        after=decode_keyset(after),
    )


def page_response(request: Request, page: Page[T], to_json: Callable[[T], Any]) -> JSON:
    response = JSON([to_json(item) for item in page.items])
    if page.next_after is not None:
        token = encode_keyset(page.next_after)
        params = [
            (key, value)
            for key, value in request.query_params.multi_items()
            if key not in ("cursor", "after")
        ]
        # A relative reference (RFC 8288 allows it): the Host header is the client's to choose and
        # never goes back out in a header.
        query = urlencode([*params, ("after", token)])
        response.headers[NEXT_CURSOR_HEADER] = token
        response.headers["Link"] = f'<{quote(request.url.path, safe="/%")}?{query}>; rel="next"'
    return response
