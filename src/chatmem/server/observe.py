"""The outermost middleware: request id, the request metrics and the access log.

It wraps the transport middleware (``chatmem.server.middleware``), so the requests the fast path
answers are seen like every other. Each request gets a ``RequestContext`` in its scope under
``CONTEXT_KEY``; whoever learns the route template fills it in: the fast path for the memory routes,
``record_route`` (around FastAPI's router) for the rest. The tenant of the access line is that of the
principal the auth layer left in the scope (``chatmem.server.auth.SCOPE_KEY``); a request refused before
it was authenticated has none (null) when auth is on, and everything is ``default`` when it is off.

Per request, with metrics on, it appends a tuple to ``chatmem.server.request_metrics.REQUESTS``, which
folds them into the request histogram in batches; with the access log on, a tuple to the
``AccessLog``'s records, which it formats and writes in batches. docs/benchmarks.md measures the cost
(bench/observability.py). It also keeps the app's ``RequestActivity``: the time some request (not a
probe or a scrape) was in flight, which the in-process enrichment workers yield to.
"""

from __future__ import annotations

import random
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatmem.base.activity import RequestActivity
from chatmem.base.logs import REQUEST_ID
from chatmem.server.access_log import BATCH_LINES, AccessLog
from chatmem.server.auth import SCOPE_KEY as PRINCIPAL_KEY
from chatmem.server.request_metrics import FOLD_RECORDS, REQUESTS
from chatmem.store.tables import DEFAULT_TENANT

CONTEXT_KEY = "chatmem.request"
UNMATCHED = "unmatched"

# What a client may choose as its request id: short, and nothing a log reader could misread (nor
# anything JSON escapes: the access log writes it into its JSON lines as it is).
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")
# Methods as labels: a fixed set, whatever method a client invents.
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
# Not traffic: a probe every few seconds must not make the enrichment workers pause.
_PROBES = frozenset(("/healthz", "/readyz", "/metrics"))


class RequestContext:
    __slots__ = ("request_id", "route", "tenant")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.route = UNMATCHED
        self.tenant: str | None = DEFAULT_TENANT


def request_context(scope: Scope) -> RequestContext | None:
    context = scope.get(CONTEXT_KEY)
    return context if isinstance(context, RequestContext) else None


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _CLIENT_REQUEST_ID.fullmatch(value):
                return str(value.decode())
            break
    # Unique enough to find a request's lines; not a secret, so no system call for randomness.
    return f"{random.getrandbits(96):024x}"


class ObserveMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: bool,
        access_log: AccessLog | None,
        auth_on: bool = False,
        activity: RequestActivity | None = None,
    ) -> None:
        self.app = app
        # Told when each request (not a probe or a scrape) is in flight: the in-process workers yield.
        self.activity = activity
        self.metrics = REQUESTS if metrics else None
        self.access_log = access_log
        # The tenant of a request without a principal: none with auth on (it was refused, or is a
        # probe), ``default`` with auth off (where everything lives).
        self.anonymous_tenant = None if auth_on else DEFAULT_TENANT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        context = RequestContext(request_id)
        scope = {**scope, CONTEXT_KEY: context}
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = REQUEST_ID.set(request_id)
        activity = self.activity
        if activity is not None and scope["path"] in _PROBES:
            activity = None
        if activity is not None:
            activity.began()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if activity is not None:
                activity.ended()
            metrics, access_log = self.metrics, self.access_log
            if metrics is not None or access_log is not None:
                seconds = time.perf_counter() - started
                method = scope["method"]
                if method not in _METHODS:
                    method = "OTHER"
                if metrics is not None:  # RequestMetrics.observe, without the call
                    pending = metrics.pending
                    pending.append((context.route, method, status, seconds))
                    if not metrics.scheduled:
                        metrics.schedule()
                    elif len(pending) >= FOLD_RECORDS:
                        metrics.fold()
                if access_log is not None:
                    principal = scope.get(PRINCIPAL_KEY)  # the auth layer puts it in this same scope
                    tenant = self.anonymous_tenant if principal is None else principal.tenant
                    context.tenant = tenant
                    # AccessLog.write, without the call
                    records = access_log.records
                    records.append((time.time(), request_id, method, context.route, status, seconds, tenant))
                    if not access_log.scheduled or len(records) >= BATCH_LINES:
                        access_log.appended()
            REQUEST_ID.reset(token)


def record_route(app: ASGIApp) -> ASGIApp:
    """Wrap FastAPI's stack: after it ran, copy the template of the route it matched (FastAPI leaves
    the route in the scope) into the request's context."""

    async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            route = scope.get("route")
            context = scope.get(CONTEXT_KEY)
            if route is not None and isinstance(context, RequestContext):
                context.route = getattr(route, "path_format", UNMATCHED)

    return recorded
