"""Migration from a running Zep 0.x server: read it through its REST API and import what it returns
with the dump importer (``importer.import_lines``), so the rules are the same: idempotent, resumable
by running it again, consistent up to a refused record.

What is read (docs/portability.md lists what Zep's API cannot give, and so cannot move):

- users: ``GET /api/v1/user?limit&cursor``;
- sessions, owned by a user or not: ``GET /api/v1/sessions?limit&cursor`` (every live session);
- each session's messages, oldest first: ``GET /api/v1/sessions/{id}/messages?limit&cursor`` (Zep
  v0.21+, the version the Zep SDKs require), ``cursor`` a 1-based page number;
- each session's latest summary: ``GET /api/v1/sessions/{id}/memory?lastn=1``.

Paging users and sessions: Zep's ``cursor`` is a keyset (``id > cursor``), chatmem's an offset into the
live rows. Asking for ``cursor = rows seen so far`` and dropping rows already seen works on both (the
k-th row has an id >= k, so nothing is skipped; the Zep SDKs page the same way). The message order
is Zep's (by its internal id); a message's position in it becomes its ``seq``.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from chatmem.base import clock
from chatmem.base.errors import BadRequestError
from chatmem.portability import format as fmt
from chatmem.portability.importer import BATCH, ImportResult, import_lines
from chatmem.store import Database

# Rows per request: users and sessions, and messages (chatmem answers at most 1,000 a page).
PAGE = 500
MESSAGE_PAGE = 1000
TIMEOUT_SECONDS = 60.0
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


class ZepError(BadRequestError):
    """The Zep server could not be read, or a record it returned cannot be imported."""


@dataclass(frozen=True, slots=True)
class ZepSource:
    url: str
    api_key: str | None = None

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(
            base_url=self.url.rstrip("/") + "/api/v1", headers=headers, timeout=TIMEOUT_SECONDS
        )


def _path(value: str) -> str:
    return quote(value, safe="")


def _get(http: httpx.Client, path: str, **params: Any) -> Any:
    try:
        response = http.get(path, params=params)
    except httpx.HTTPError as exc:
        raise ZepError(f"cannot reach the Zep server ({http.base_url}): {exc}") from None
    if response.status_code != 200:
        raise ZepError(
            f"GET {http.base_url}{path} answered {response.status_code}: {response.text.strip()[:200]}"
        )
    try:
        return response.json()
    except ValueError:
        raise ZepError(f"GET {http.base_url}{path} did not answer JSON: {response.text[:200]!r}") from None


def _listed(http: httpx.Client, path: str, key: str, size: int) -> Iterator[dict[str, Any]]:
    """Every row of a Zep list (users, sessions), each once, in the server's order."""
    seen: set[str] = set()
    offset = 0
    while True:
        page = _get(http, path, limit=size, cursor=offset)
        if not isinstance(page, list):
            raise ZepError(f"GET {path} did not answer a list")
        for row in page:
            ident = row.get(key) if isinstance(row, dict) else None
            if not isinstance(ident, str):
                raise ZepError(f"GET {path} answered a row without a {key}: {row!r:.200}")
            if ident not in seen:
                seen.add(ident)
                yield row
        # A short page holds everything after the cursor, whichever way the server reads it.
        if len(page) < size:
            return
        offset += size


def _time(value: Any, fallback: Any = None) -> Any:
    """Zep's RFC 3339 times; its zero time (``0001-01-01T00:00:00Z``, what v0.20+ sends as a message's
    updated_at) is no time: ``fallback``."""
    if not isinstance(value, str) or value.startswith("0001-01-01"):
        return fallback
    head, dot, rest = value.partition(".")
    if dot:  # Go writes up to 9 fractional digits; Python reads 6
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except ValueError:
        return value  # the importer names the field and the value


def _messages(http: httpx.Client, session_id: str, size: int) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        got = _get(http, f"/sessions/{_path(session_id)}/messages", limit=size, cursor=page)
        rows = got.get("messages") if isinstance(got, dict) else None
        if not isinstance(rows, list):
            raise ZepError(f"GET /sessions/{session_id}/messages did not answer a message list")
        yield from rows
        if len(rows) < size:
            return
        page += 1


def zep_lines(
    http: httpx.Client,
    tenant: str,
    url: str,
    described: deque[tuple[int, str]],
    *,
    page: int = PAGE,
    message_page: int = MESSAGE_PAGE,
) -> Iterator[bytes]:
    """The Zep server's users, sessions, summaries and messages as a dump (``format``); each line's
    number and what it came from go into ``described`` (the last few), to name a refused record."""
    number = 1
    now = clock.now()

    def line(record: dict[str, Any], what: str) -> bytes:
        nonlocal number
        number += 1
        described.append((number, what))
        return fmt.encode(record)

    yield fmt.encode(fmt.header(tenant, {"source": "zep", "url": url}, False, now))
    for user in _listed(http, "/user", "user_id", page):
        user_id = user.get("user_id")
        created = _time(user.get("created_at"), now)
        yield line(
            {
                "type": fmt.USER,
                "user_id": user_id,
                "uuid": user.get("uuid"),
                "email": user.get("email") or None,
                "first_name": user.get("first_name") or None,
                "last_name": user.get("last_name") or None,
                "metadata": user.get("metadata") or None,
                "created_at": created,
                "updated_at": _time(user.get("updated_at"), created),
            },
            f"Zep user {user_id!r}",
        )
    for session in _listed(http, "/sessions", "session_id", page):
        session_id = session["session_id"]
        created = _time(session.get("created_at"), now)
        yield line(
            {
                "type": fmt.SESSION,
                "session_id": session_id,
                "uuid": session.get("uuid"),
                "user_id": session.get("user_id") or None,
                "metadata": session.get("metadata") or None,
                "created_at": created,
                "updated_at": _time(session.get("updated_at"), created),
                "deleted_at": None,
            },
            f"Zep session {session_id!r}",
        )
        memory = _get(http, f"/sessions/{_path(session_id)}/memory", lastn=1)
        summary = memory.get("summary") if isinstance(memory, dict) else None
        point = summary.get("recent_message_uuid") if isinstance(summary, dict) else None
        for seq, message in enumerate(_messages(http, session_id, message_page), start=1):
            created = _time(message.get("created_at"), now)
            uuid = message.get("uuid")
            yield line(
                {
                    "type": fmt.MESSAGE,
                    "session_id": session_id,
                    "seq": seq,
                    "uuid": uuid,
                    "role": message.get("role"),
                    "content": message.get("content"),
                    "metadata": message.get("metadata") or None,
                    "token_count": message.get("token_count") or 0,
                    "created_at": created,
                    "updated_at": _time(message.get("updated_at"), created),
                },
                f"Zep session {session_id!r}, message {uuid}",
            )
            # The latest summary follows the message it ends at (its "summary point").
            if isinstance(summary, dict) and point and point != ZERO_UUID and point == uuid:
                yield line(
                    {
                        "type": fmt.SUMMARY,
                        "session_id": session_id,
                        "point_seq": seq,
                        "uuid": summary.get("uuid"),
                        "recent_message_uuid": point,
                        "content": summary.get("content"),
                        "token_count": summary.get("token_count") or 0,
                        "metadata": summary.get("metadata") or None,
                        "created_at": _time(summary.get("created_at"), created),
                    },
                    f"Zep session {session_id!r}, summary {summary.get('uuid')}",
                )
    yield fmt.encode({"type": fmt.END, "counts": {}})


def import_zep(
    db: Database,
    tenant_id: int,
    tenant: str,
    source: ZepSource,
    *,
    batch: int = BATCH,
    page: int = PAGE,
    message_page: int = MESSAGE_PAGE,
    progress: Callable[[int], object] | None = None,
) -> ImportResult:
    """Copy a Zep 0.x server's users, sessions, summaries and messages into the tenant. Running it
    again stores nothing twice and finishes an interrupted run; a record chatmem cannot store stops it
    with what it is (``ZepError``), everything read before it written."""
    described: deque[tuple[int, str]] = deque(maxlen=2 * batch + 2)
    with source.client() as http:
        try:
            lines = zep_lines(http, tenant, source.url, described, page=page, message_page=message_page)
            return import_lines(db, tenant_id, lines, batch=batch, progress=progress)
        except fmt.DumpError as exc:
            what = next((text for number, text in described if number == exc.line), f"record {exc.line}")
            raise ZepError(f"{what}: {exc.problem}") from None
