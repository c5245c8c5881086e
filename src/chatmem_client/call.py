"""Endpoint calls: each SDK operation is written once as a ``Call`` (what to send, how to read the
answer) and run by either transport. Nothing in this module does I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from chatmem_client.errors import APIError, AuthError, NotFoundError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

API_PREFIX = "/api/v1"
NEXT_CURSOR_HEADER = "X-Next-Cursor"

Params = Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP exchange. ``path`` is relative to the server root; ``read`` turns a 2xx response
    into the operation's result (error statuses never reach it)."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Params = field(default_factory=dict)
    json: Any = None

    def finish(self, response: httpx.Response) -> T:
        raise_for_status(response)
        try:
            return self.read(response)
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            raise APIError(
                f"unexpected response to {self.method} {self.path}: {exc}", status_code=response.status_code
            ) from exc


@dataclass(frozen=True, slots=True)
class Chunk(Generic[T]):
    """A page of a keyset-paged list, and the token for the next one (None: this was the last)."""

    items: list[T]
    next_token: str | None


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """A list read page by page: ``page(token)`` is the call for the page after ``token``
    (None: the first page)."""

    page: Callable[[str | None], Call[Chunk[T]]]


def api_path(*segments: str) -> str:
    """``/api/v1/a/b``; each segment is percent-encoded whole, so ids may contain ``/``, ``?`` or ``%``."""
    return API_PREFIX + "".join("/" + quote(segment, safe="") for segment in segments)


def require_id(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def server_message(response: httpx.Response) -> str:
    """chatmem's ``{"message": ...}``, else the body text (Zep answered errors in plain text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text.strip() or response.reason_phrase


def raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = server_message(response)
    if status == 404:
        raise NotFoundError(message, status_code=status)
    if status in (401, 403):
        raise AuthError(message, status_code=status)
    raise APIError(message, status_code=status)


def read_model(model: type[M]) -> Callable[[httpx.Response], M]:
    def read(response: httpx.Response) -> M:
        return model.model_validate_json(response.content)

    return read


def read_list(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]

    def read(response: httpx.Response) -> list[M]:
        items: list[M] = adapter.validate_json(response.content)
        return items

    return read


def read_chunk(model: type[M]) -> Callable[[httpx.Response], Chunk[M]]:
    read_items = read_list(model)

    def read(response: httpx.Response) -> Chunk[M]:
        return Chunk(read_items(response), response.headers.get(NEXT_CURSOR_HEADER) or None)

    return read


def read_text(response: httpx.Response) -> str:
    return response.text


def read_nothing(_response: httpx.Response) -> None:
    return None


def keyset_pages(path: str, model: type[M], chunk_size: int) -> Paged[M]:
    """Every row of a list at ``path`` once, ``chunk_size`` per request, following the server's
    ``X-Next-Cursor`` keyset token, so each page costs the same however deep it is."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    read = read_chunk(model)

    def page(token: str | None) -> Call[Chunk[M]]:
        params: dict[str, str | int] = {"limit": chunk_size}
        if token is not None:
            params["after"] = token
        return Call("GET", path, read, params=params)

    return Paged(page)
