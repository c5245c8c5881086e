"""GET and POST /api/v1/sessions/{session_id}/memory without FastAPI's per-request machinery.

These two routes are the hot path of a chat application: read the recent context, append the turn.
Through FastAPI (route matching over every route, dependency solving, validating the body from a
parsed ``dict``, the endpoint wrapper) they cost about as much CPU as their database work
(docs/benchmarks.md measures both against a framework-free app doing the same SQL). The transport
middleware offers every request to ``FastRoutes`` first; it answers these two on the code the routes use
(the ``AddMemoryRequest`` model, here parsed straight from the JSON bytes, the same plans, the same JSON).

The body arrives parsed and checked by the transport middleware (``chatmem.server.guard``), the one
check of JSON on the way in for both paths. A request it does not accept as it is (a body that fails
validation, a bad ``lastn``, input the memory layer refuses) goes on to the FastAPI route, which
answers it with the error it gives everywhere else: those checks all run before the database is
touched, so nothing is written twice. Errors while the database works are mapped as the app's
exception handlers map them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote

import anyio.to_thread
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Message, Scope, Send

from chatmem.base.errors import ChatmemError
from chatmem.config import Settings
from chatmem.memory import messages
from chatmem.models import AddMemoryRequest
from chatmem.server.auth import principal_of
from chatmem.server.errors import error_response
from chatmem.server.guard import OFF_LOOP_BODY_BYTES
from chatmem.server.observe import request_context
from chatmem.server.params import parse_lastn
from chatmem.server.responses import JSON, ok
from chatmem.server.wire import memory_json, new_messages
from chatmem.store import Database
from chatmem.store.prepared import Batchable, WritePlan

# The path as the transport middleware leaves it: one segment per id, ``%2F``/``%25`` still encoded.
_MEMORY_PATH = re.compile(r"/api/v1/sessions/([^/]+)/memory")
# Its template, as the FastAPI route declares it (metrics and logs name routes by template).
MEMORY_ROUTE = "/api/v1/sessions/{session_id}/memory"


_OK = ok()
_OK_HEADERS, _OK_BODY = _OK.raw_headers, bytes(_OK.body)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class FastRoutes:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.window = settings.message_window
        self.max_lastn = settings.max_lastn

    async def __call__(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer the request if it is one of the two routes and well-formed; False: the app must."""
        method = scope["method"]
        if method not in ("GET", "POST") or scope.get("root_path"):
            return False
        match = _MEMORY_PATH.fullmatch(scope["path"])
        if match is None:
            return False
        context = request_context(scope)
        if context is not None:
            context.route = MEMORY_ROUTE
        session_id = unquote(match[1])
        # Set by the auth layer in front (server/auth.py); the default tenant when auth is off.
        tenant_id = principal_of(scope).tenant_id
        try:
            # Each of these refuses bad input before any statement runs.
            if method == "POST":
                parsed = scope.get("chatmem.json")
                if parsed is None:
                    return False
                if len(body) > OFF_LOOP_BODY_BYTES:
                    write = await anyio.to_thread.run_sync(self._append_plan, tenant_id, session_id, parsed)
                else:
                    write = self._append_plan(tenant_id, session_id, parsed)
            else:
                lastn = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)).get("lastn")
                count = parse_lastn(lastn, self.max_lastn)
                read = messages.recent_messages_plan(
                    self.db.dialect_name, tenant_id, session_id, window=self.window, lastn=count
                )
        except (ValidationError, ChatmemError, UnicodeError, ValueError):
            return False
        response: Response | None = None
        try:
            if method == "POST":
                await self.db.awrite(write)
            else:
                memory = await self.db.aread_plan(read, rows=count or self.window)
                response = JSON(memory_json(memory))
        except Exception as exc:
            response = error_response(exc, method, scope["path"])
        if response is None:
            # The messages ``ok()`` would send, without building a Response for every append.
            await send({"type": "http.response.start", "status": 200, "headers": list(_OK_HEADERS)})
            await send({"type": "http.response.body", "body": _OK_BODY})
        else:
            await response(scope, _no_body, send)
        return True

    def _append_plan(
        self, tenant_id: int, session_id: str, parsed: Any
    ) -> WritePlan[None] | Batchable[messages.Append]:
        new = new_messages(AddMemoryRequest.model_validate(parsed))
        return messages.add_messages_work(self.db.dialect_name, tenant_id, session_id, new)
