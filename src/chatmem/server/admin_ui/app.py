"""The admin web page at ``/admin`` (docs/admin.md): server-rendered HTML over the same plans and services
as the API, behind its own sign-in (an admin key, then a signed cookie) when auth is on.

It is an ASGI app of its own, reached by ``admin_dispatch`` in front of the API's auth and transport
layers: a browser sends forms (``application/x-www-form-urlencoded``) and a cookie, not JSON and a
bearer token, so it checks for itself what those layers check for the API: the Host header, the body
size, the credential (the signed session, re-checked against the key on every request: a revoked key
ends its sessions at once), the role (admin only), plus a CSRF token on every POST and the Origin.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode

import anyio
import anyio.to_thread
import jinja2
import psycopg
import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from chatmem.access import keys, tenants
from chatmem.access.roles import Principal, Role
from chatmem.base.errors import BadRequestError, ChatmemError, ForbiddenError, NotFoundError
from chatmem.base.validation import check_id, check_text, parse_json
from chatmem.config import Settings
from chatmem.embeddings import describe
from chatmem.enrich import queue
from chatmem.memory import browse, sessions, users
from chatmem.memory.purge import purge
from chatmem.search.query import Scope as SearchScope
from chatmem.search.query import SearchType, build_query
from chatmem.search.service import Searcher
from chatmem.server import guard
from chatmem.server.admin_ui.session import COOKIE, BrowserSession, Signer
from chatmem.server.auth import UNAUTHENTICATED
from chatmem.server.observe import request_context
from chatmem.store import Database
from chatmem.store.migrate import head_revision, schema_revision
from chatmem.store.tables import DEFAULT_TENANT

log = logging.getLogger("chatmem.admin")
T = TypeVar("T")

PREFIX = "/admin"
MAX_FORM_BYTES = 1024 * 1024
PAGE = 50
CHAT_PAGE = 100
# No inline script or style anywhere: everything comes from /admin/static.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {
    "admin.css": "text/css; charset=utf-8",
    "htmx.min.js": "text/javascript; charset=utf-8",
}
# Messages a redirect may name (?ok=...): fixed texts, so a link cannot make the page say anything.
NOTICES = {
    "metadata": "Metadata saved.",
    "session-deleted": "Session deleted.",
    "user-deleted": "User deleted, and its sessions with it.",
    "retried": "Dead jobs queued again.",
    "revoked": "Key revoked.",
    "signed-out": "Signed out.",
    "tenant": "Now viewing another tenant.",
}
_SECRET_ENDINGS = ("_key", "_token")
_UNAVAILABLE = (psycopg.OperationalError, sqlite3.OperationalError, SQLAlchemyOperationalError)


class HTTPError(ChatmemError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Ctx:
    """One request to the admin page."""

    request: Request
    session: BrowserSession
    principal: Principal | None
    base: str
    form: dict[str, str] = field(default_factory=dict)
    tenant_id: int = 0
    tenant: str = DEFAULT_TENANT
    cookie_changed: bool = False

    def arg(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value if value is not None and value != "" else None

    @property
    def operator(self) -> bool:
        return self.principal is not None and self.principal.is_operator


Handler = Callable[[Ctx], Awaitable[Response]]


def _int_arg(ctx: Ctx, name: str, *, source: Mapping[str, str] | None = None) -> int | None:
    value = (source or ctx.request.query_params).get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 18:
        raise BadRequestError(f"{name} must be a whole number of at most 18 digits")
    return int(value)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("chatmem.server.admin_ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _pretty
    env.filters["when"] = _when
    env.filters["q"] = lambda value: quote(str(value), safe="")
    env.filters["number"] = lambda value: f"{value:,}" if isinstance(value, int) else value
    return env


def _secret_name(name: str) -> bool:
    return "secret" in name or "password" in name or name.endswith(_SECRET_ENDINGS)


def redacted_settings(settings: Settings) -> list[tuple[str, str]]:
    """Every setting as it is in effect, each secret replaced by whether it is set; the database URL
    without its password."""
    shown: list[tuple[str, str]] = []
    for name in sorted(type(settings).model_fields):
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if name == "database_url":
            url = settings.resolved_database_url()
            try:
                text = sa.make_url(url).render_as_string(hide_password=True)
            except sa.exc.ArgumentError:
                text = "(not a valid URL)"
        elif _secret_name(name):
            text = "(set, redacted)" if value else "(empty)"
        else:
            text = "" if value is None else str(value)
        shown.append((name, text))
    return shown


def _static(name: str) -> bytes:
    return resources.files("chatmem.server.admin_ui").joinpath("static", name).read_bytes()


class AdminUI:
    """The ASGI app of ``/admin`` (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        searcher: Searcher,
        *,
        allowed_hosts: frozenset[str],
        secret: bytes | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.searcher = searcher
        self.allowed_hosts = allowed_hosts
        configured = settings.admin_secret.get_secret_value().encode()
        self.signer = Signer(
            secret or configured or secrets.token_bytes(32), settings.admin_session_hours * 3600
        )
        self.env = _environment()
        self._code_point_order: bool | None = None  # read from the database on first use
        self.static = {name: _static(name) for name in STATIC}
        get: dict[str, Handler] = {
            "": self.dashboard,
            "/sign-in": self.sign_in_page,
            "/users": self.users_page,
            "/user": self.user_page,
            "/user/delete": self.user_delete_page,
            "/sessions": self.sessions_page,
            "/session": self.session_page,
            "/session/messages": self.session_messages,
            "/session/delete": self.session_delete_page,
            "/search": self.search_page,
            "/queue": self.queue_page,
            "/settings": self.settings_page,
            "/keys": self.keys_page,
        }
        post: dict[str, Handler] = {
            "/sign-in": self.sign_in,
            "/sign-out": self.sign_out,
            "/tenant": self.switch_tenant,
            "/user/metadata": self.user_metadata,
            "/user/delete": self.user_delete,
            "/session/metadata": self.session_metadata,
            "/session/delete": self.session_delete,
            "/queue/retry": self.queue_retry,
            "/queue/purge": self.queue_purge,
            "/keys/create": self.key_create,
            "/keys/revoke": self.key_revoke,
        }
        self.routes: dict[str, dict[str, Handler]] = {"GET": get, "HEAD": get, "POST": post}

    @property
    def auth_on(self) -> bool:
        return self.settings.auth_on

    # --- Plumbing ---------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        path: str = scope["path"]
        if root and path.startswith(root):
            path = path[len(root) :]
        sub = path[len(PREFIX) :].rstrip("/")
        base = root + PREFIX
        context = request_context(scope)
        if context is not None:
            context.route = PREFIX + (
                sub if sub in self.routes["GET"] or sub in self.routes["POST"] else "/*"
            )
        try:
            guard.check_host(scope.get("headers", ()), self.allowed_hosts)
        except ChatmemError as exc:
            await self._plain(400, exc.message)(scope, receive, send)
            return
        if sub.startswith("/static/"):
            await self._serve_static(sub[len("/static/") :], scope["method"])(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._handle(request, sub, base)
        await response(scope, receive, send)

    def _plain(self, status: int, text: str) -> Response:
        return Response(
            text, status_code=status, media_type="text/plain; charset=utf-8", headers=SECURITY_HEADERS
        )

    def _serve_static(self, name: str, method: str) -> Response:
        if name not in STATIC or method not in ("GET", "HEAD"):
            return self._plain(404, "not found")
        headers = {**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"}
        return Response(self.static[name], media_type=STATIC[name], headers=headers)

    async def _handle(self, request: Request, sub: str, base: str) -> Response:
        session = self.signer.load(request.cookies.get(COOKIE))
        fresh = session is None
        ctx = Ctx(request, session or self.signer.new(), None, base, cookie_changed=fresh)
        try:
            handler = self.routes.get(request.method, {}).get(sub)
            if handler is None:
                known = any(sub in table for table in self.routes.values())
                raise HTTPError(405 if known else 404, "no such page" if not known else "method not allowed")
            for name, value in request.query_params.multi_items():
                check_text(name[:40], value)
            await self._identify(ctx)
            if request.method == "POST":
                await self._check_post(ctx)
            if ctx.principal is None and sub != "/sign-in":
                if request.method == "POST":
                    raise HTTPError(401, "sign in first")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response: Response = RedirectResponse(
                    f"{base}/sign-in?{urlencode({'next': target})}", status_code=303
                )
            else:
                if ctx.principal is not None:
                    await self._viewed_tenant(ctx)
                response = await handler(ctx)
        except HTTPError as exc:
            response = self._error(ctx, exc.status, exc.message)
        except NotFoundError as exc:
            response = self._error(ctx, 404, exc.message)
        except ForbiddenError as exc:
            response = self._error(ctx, 403, exc.message)
        except ChatmemError as exc:
            response = self._error(ctx, 400, exc.message)
        except _UNAVAILABLE:
            log.warning("admin page: the database is unavailable", exc_info=True)
            response = self._error(ctx, 503, "the database is unavailable; try again shortly")
        except Exception:  # a bug: logged with its traceback, shown as a page without details
            log.exception("admin page %s %s failed", request.method, request.url.path)
            response = self._error(ctx, 500, "internal error (logged on the server)")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if ctx.cookie_changed:
            response.set_cookie(
                COOKIE,
                self.signer.dump(ctx.session),
                max_age=int(self.signer.lifetime),
                path=base,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
        return response

    async def _identify(self, ctx: Ctx) -> None:
        if not self.auth_on:
            ctx.principal = UNAUTHENTICATED
            return
        key_id = ctx.session.key_id
        if key_id is None:
            return
        principal = await self.db.aread_plan(keys.principal_of_key_plan(key_id))
        if principal is None or principal.role < Role.ADMIN:
            # Revoked since, or its tenant deleted: the session ends here.
            ctx.session = self.signer.new()
            ctx.cookie_changed = True
            return
        ctx.principal = principal

    async def _viewed_tenant(self, ctx: Ctx) -> None:
        assert ctx.principal is not None
        ctx.tenant_id, ctx.tenant = ctx.principal.tenant_id, ctx.principal.tenant
        wanted = ctx.session.tenant
        if wanted is None or wanted == ctx.tenant or not ctx.operator:
            return
        found = await self.db.aread_plan(tenants.find_tenant_plan(wanted))
        if found is None:
            ctx.session = ctx.session.viewing(None)
            ctx.cookie_changed = True
            return
        ctx.tenant_id, ctx.tenant = found.id, found.name

    async def _check_post(self, ctx: Ctx) -> None:
        request = ctx.request
        origin = request.headers.get("origin")
        if origin is not None and origin != "null":
            own = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin.rstrip("/") != own:
                raise HTTPError(403, "this form was sent from another site")
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise HTTPError(415, "forms are sent as application/x-www-form-urlencoded")
        body = b""
        with anyio.move_on_after(self.settings.body_timeout_seconds) as timer:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FORM_BYTES:
                    raise HTTPError(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
        if timer.cancelled_caught:
            raise HTTPError(408, "the form did not arrive in time")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise HTTPError(400, "the form is not valid UTF-8") from None
        ctx.form = dict(pairs)
        for name, value in ctx.form.items():
            check_text(name[:40], value)
        if not self.signer.csrf_ok(ctx.session, ctx.form.get("csrf")):
            raise HTTPError(403, "the form's CSRF token is missing or stale: reload the page and try again")

    def render(self, ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        notice = NOTICES.get(ctx.arg("ok") or "")
        html = self.env.get_template(template).render(
            base=ctx.base,
            csrf=self.signer.csrf(ctx.session),
            principal=ctx.principal,
            auth_on=self.auth_on,
            tenant=ctx.tenant,
            operator=ctx.operator,
            notice=notice,
            **values,
        )
        return HTMLResponse(html, status_code=code)

    def _error(self, ctx: Ctx, status: int, message: str) -> Response:
        if ctx.request.headers.get("hx-request"):
            return HTMLResponse(f'<p class="error">{escape(message)}</p>', status_code=status)
        return self.render(ctx, "error.html", code=status, status_code=status, message=message)

    def _redirect(self, ctx: Ctx, path: str, **params: str) -> Response:
        query = urlencode({name: value for name, value in params.items() if value})
        return RedirectResponse(f"{ctx.base}{path}" + (f"?{query}" if query else ""), status_code=303)

    async def _sync(self, call: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(call)

    # --- Sign-in ----------------------------------------------------------------------------------------

    async def sign_in_page(self, ctx: Ctx) -> Response:
        if ctx.principal is not None:
            return self._redirect(ctx, "")
        return self.render(ctx, "sign_in.html", next=_safe_next(ctx.arg("next"), ctx.base), error=None)

    async def sign_in(self, ctx: Ctx) -> Response:
        target = _safe_next(ctx.form.get("next"), ctx.base)
        if not self.auth_on:
            return RedirectResponse(target, status_code=303)
        key = ctx.form.get("key", "").strip()
        principal = await self.db.aread_plan(keys.resolve_plan(key)) if key else None
        if principal is None or principal.role < Role.ADMIN:
            reason = (
                "that key may not use the admin page: it needs an admin key"
                if principal is not None
                else "that is not a valid API key (unknown, revoked, or its tenant was deleted)"
            )
            return self.render(
                ctx, "sign_in.html", code=401 if principal is None else 403, next=target, error=reason
            )
        ctx.session = self.signer.fresh(ctx.session.signed_in(principal.key_id))
        ctx.cookie_changed = True
        return RedirectResponse(target, status_code=303)

    async def sign_out(self, ctx: Ctx) -> Response:
        ctx.session = self.signer.new()
        ctx.cookie_changed = True
        return self._redirect(ctx, "/sign-in", ok="signed-out")

    async def switch_tenant(self, ctx: Ctx) -> Response:
        name = ctx.form.get("tenant", "").strip()
        if not ctx.operator:
            raise HTTPError(403, "only an admin of the default tenant sees other tenants")
        if not name or await self.db.aread_plan(tenants.find_tenant_plan(name)) is None:
            raise NotFoundError(f"tenant not found: {name}")
        ctx.session = ctx.session.viewing(None if name == ctx.principal.tenant else name)  # type: ignore[union-attr]
        ctx.cookie_changed = True
        return self._redirect(ctx, "", ok="tenant")

    # --- Dashboard and settings -------------------------------------------------------------------------

    async def _tenant_names(self, ctx: Ctx) -> list[str]:
        if not (self.auth_on and ctx.operator):
            return []
        return [record.name for record in await self._sync(lambda: tenants.list_tenants(self.db))]

    async def dashboard(self, ctx: Ctx) -> Response:
        sizes = (
            await self.db.aread_plan(browse.table_sizes_plan(self.db.dialect_name)) if ctx.operator else []
        )
        scope = self._queue_scope(ctx)
        status = await self._sync(lambda: queue.status(self.db, tenant_id=scope, dead_limit=5))
        revision = await self._sync(lambda: schema_revision(self.db))
        return self.render(
            ctx,
            "dashboard.html",
            sizes=sizes,
            status=status,
            db_kind="PostgreSQL" if self.db.dialect_name == "postgresql" else "SQLite",
            revision=revision,
            head=head_revision(),
            embeddings=describe(self.settings),
            settings=self.settings,
            tenant_names=await self._tenant_names(ctx),
            queue_scope="every tenant" if scope is None else f"tenant {ctx.tenant}",
        )

    async def settings_page(self, ctx: Ctx) -> Response:
        return self.render(ctx, "settings.html", rows=redacted_settings(self.settings))

    # --- Users ------------------------------------------------------------------------------------------

    async def users_page(self, ctx: Ctx) -> Response:
        text = ctx.arg("q")
        listing = await self.db.aread_plan(
            browse.list_users_plan(ctx.tenant_id, before=_int_arg(ctx, "before"), limit=PAGE, text=text)
        )
        return self.render(ctx, "users.html", listing=listing, q=text or "")

    def _id(self, ctx: Ctx, name: str = "id") -> str:
        value = ctx.form.get(name) if ctx.request.method == "POST" else ctx.arg(name)
        if not value:
            raise BadRequestError(f"{name} is required")
        return check_id(name, value)

    async def user_page(
        self, ctx: Ctx, *, edit_error: str | None = None, draft: str | None = None
    ) -> Response:
        user_id = self._id(ctx)
        user = await self.db.aread_plan(users.get_user_plan(ctx.tenant_id, user_id))
        listing = await self.db.aread_plan(
            browse.list_sessions_plan(
                ctx.tenant_id,
                user_id=user_id,
                before=_int_arg(ctx, "before"),
                limit=PAGE,
                state=browse.SessionState.ALL,
            )
        )
        return self.render(
            ctx,
            "user.html",
            code=400 if edit_error else 200,
            user=user,
            listing=listing,
            edit_error=edit_error,
            draft=draft if draft is not None else _pretty(user.metadata or {}),
            search=_SearchForm.empty(),
        )

    async def user_metadata(self, ctx: Ctx) -> Response:
        user_id = self._id(ctx)
        text = ctx.form.get("metadata", "")
        try:
            patch = _json_object(text)
            await self.db.awrite_plan(users.update_user_plan(ctx.tenant_id, user_id, metadata=patch))
        except BadRequestError as exc:
            return await self.user_page(_with_query(ctx, id=user_id), edit_error=exc.message, draft=text)
        return self._redirect(ctx, "/user", id=user_id, ok="metadata")

    async def user_delete_page(self, ctx: Ctx) -> Response:
        user = await self.db.aread_plan(users.get_user_plan(ctx.tenant_id, self._id(ctx)))
        return self.render(ctx, "confirm.html", what="user", ident=user.user_id, action="/user/delete")

    async def user_delete(self, ctx: Ctx) -> Response:
        await self.db.awrite_plan(users.delete_user_plan(ctx.tenant_id, self._id(ctx)))
        return self._redirect(ctx, "/users", ok="user-deleted")

    # --- Sessions ---------------------------------------------------------------------------------------

    async def sessions_page(self, ctx: Ctx) -> Response:
        state_arg = ctx.arg("state") or "live"
        try:
            state = browse.SessionState(state_arg)
        except ValueError:
            raise BadRequestError("state must be live, deleted or all") from None
        if self._code_point_order is None:
            self._code_point_order = await self.db.aread_plan(
                browse.code_point_order_plan(self.db.dialect_name)
            )
        listing = await self.db.aread_plan(
            browse.list_sessions_plan(
                ctx.tenant_id,
                before=_int_arg(ctx, "before"),
                limit=PAGE,
                id_prefix=ctx.arg("prefix"),
                user_id=ctx.arg("user"),
                state=state,
                code_point_order=self._code_point_order,
            )
        )
        filters = {"prefix": ctx.arg("prefix") or "", "user": ctx.arg("user") or "", "state": state.value}
        return self.render(ctx, "sessions.html", listing=listing, filters=filters)

    async def _chat(self, ctx: Ctx) -> tuple[browse.ChatPage, str | None]:
        session_id = self._id(ctx)
        after, before = _int_arg(ctx, "after"), _int_arg(ctx, "before")
        focus: str | None = None
        message = ctx.arg("message")
        if message is not None:
            try:
                message_uuid = uuid.UUID(message)
            except ValueError:
                raise BadRequestError("message must be a message's UUID") from None
            seq = await self.db.aread_plan(browse.message_seq_plan(ctx.tenant_id, session_id, message_uuid))
            # Open the page with a few messages of context before the one asked for.
            after, before, focus = max(0, seq - 6), None, str(message_uuid)
        page = await self.db.aread_plan(
            browse.chat_page_plan(ctx.tenant_id, session_id, after=after, before=before, limit=CHAT_PAGE)
        )
        return page, focus

    async def session_page(
        self, ctx: Ctx, *, edit_error: str | None = None, draft: str | None = None
    ) -> Response:
        page, focus = await self._chat(ctx)
        return self.render(
            ctx,
            "session.html",
            code=400 if edit_error else 200,
            page=page,
            session=page.session,
            chat=_interleaved(page),
            focus=focus,
            fragment=False,
            edit_error=edit_error,
            draft=draft if draft is not None else _pretty(page.session.metadata or {}),
            search=_SearchForm.empty(),
        )

    async def session_messages(self, ctx: Ctx) -> Response:
        """The next page of the chat view alone (htmx swaps it in below the current one)."""
        page, _focus = await self._chat(ctx)
        return self.render(
            ctx,
            "chat_page.html",
            page=page,
            session=page.session,
            chat=_interleaved(page),
            focus=None,
            fragment=True,
        )

    async def session_metadata(self, ctx: Ctx) -> Response:
        session_id = self._id(ctx)
        text = ctx.form.get("metadata", "")
        try:
            patch = _json_object(text)
            await self.db.awrite_plan(sessions.update_session_plan(ctx.tenant_id, session_id, patch))
        except BadRequestError as exc:
            return await self.session_page(
                _with_query(ctx, id=session_id), edit_error=exc.message, draft=text
            )
        return self._redirect(ctx, "/session", id=session_id, ok="metadata")

    async def session_delete_page(self, ctx: Ctx) -> Response:
        row = await self.db.aread_plan(browse.get_session_row_plan(ctx.tenant_id, self._id(ctx)))
        if row.deleted:
            raise BadRequestError("this session is already deleted")
        return self.render(
            ctx, "confirm.html", what="session", ident=row.session_id, action="/session/delete"
        )

    async def session_delete(self, ctx: Ctx) -> Response:
        await self.db.awrite_plan(sessions.delete_session_plan(ctx.tenant_id, self._id(ctx)))
        return self._redirect(ctx, "/sessions", ok="session-deleted")

    # --- Search -----------------------------------------------------------------------------------------

    async def search_page(self, ctx: Ctx) -> Response:
        form = _SearchForm.of(ctx)
        if form.session is None and form.user is None:
            raise BadRequestError("search needs a session or a user")
        query = build_query(
            text=form.text or None,
            metadata=_json_object(form.metadata) if form.metadata.strip() else None,
            search_scope=form.scope,
            search_type=form.type,
            mmr_lambda=None,
            limit=form.limit,
            default_type=self.settings.search_default_type,
            max_limit=min(self.settings.search_max_limit, 100),
        )
        tenant_id = ctx.tenant_id
        if form.session is not None:
            session_id = form.session
            result = await self._sync(lambda: self.searcher.search_session(tenant_id, session_id, query))
        else:
            user_id = form.user or ""
            result = await self._sync(lambda: self.searcher.search_user(tenant_id, user_id, query))
        template = "search_results.html" if ctx.request.headers.get("hx-request") else "search.html"
        return self.render(ctx, template, search=form, result=result)

    # --- Queue ------------------------------------------------------------------------------------------

    def _queue_scope(self, ctx: Ctx) -> int | None:
        """The operator on its own tenant sees the whole queue (as the API shows it); anyone else, and
        the operator after switching, the viewed tenant's jobs."""
        if ctx.operator and ctx.principal is not None and ctx.tenant_id == ctx.principal.tenant_id:
            return None
        return ctx.tenant_id

    async def queue_page(self, ctx: Ctx, *, purged: Any = None, retried: int | None = None) -> Response:
        tenant_id = self._queue_scope(ctx)
        status = await self._sync(lambda: queue.status(self.db, tenant_id=tenant_id, dead_limit=100))
        return self.render(
            ctx,
            "queue.html",
            status=status,
            purged=purged,
            retried=retried,
            queue_scope="every tenant" if tenant_id is None else f"tenant {ctx.tenant}",
        )

    async def queue_retry(self, ctx: Ctx) -> Response:
        tenant_id = self._queue_scope(ctx)
        retried = await self._sync(lambda: queue.retry_dead(self.db, tenant_id=tenant_id))
        return await self.queue_page(ctx, retried=retried)

    async def queue_purge(self, ctx: Ctx) -> Response:
        if not ctx.operator:
            raise HTTPError(403, "only an admin of the default tenant runs the purge")
        result = await self._sync(lambda: purge(self.db))
        return await self.queue_page(ctx, purged=result)

    # --- Keys -------------------------------------------------------------------------------------------

    async def keys_page(self, ctx: Ctx, *, created: keys.NewKey | None = None) -> Response:
        if not self.auth_on:
            return self.render(ctx, "keys.html", keys=[], created=None, roles=[r.label for r in Role])
        tenant = ctx.tenant
        found = await self._sync(lambda: keys.list_keys(self.db, tenant))
        return self.render(
            ctx,
            "keys.html",
            code=201 if created else 200,
            keys=found,
            created=created,
            roles=[r.label for r in Role],
        )

    async def key_create(self, ctx: Ctx) -> Response:
        if not self.auth_on:
            raise HTTPError(400, "keys are used only when auth is on (CHATMEM_AUTH=on)")
        try:
            role = Role.parse(ctx.form.get("role", ""))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        name = ctx.form.get("name", "").strip() or None
        tenant = ctx.tenant
        created = await self._sync(lambda: keys.create_key(self.db, tenant, role, name))
        return await self.keys_page(ctx, created=created)

    async def key_revoke(self, ctx: Ctx) -> Response:
        if not self.auth_on:
            raise HTTPError(400, "keys are used only when auth is on (CHATMEM_AUTH=on)")
        key_id = self._id(ctx)
        tenant = ctx.tenant
        await self._sync(lambda: keys.revoke_key(self.db, key_id, tenant=tenant))
        return self._redirect(ctx, "/keys", ok="revoked")


@dataclass(frozen=True, slots=True)
class _SearchForm:
    session: str | None
    user: str | None
    text: str
    type: str
    scope: str
    metadata: str
    limit: int

    TYPES = tuple(t.value for t in SearchType)
    SCOPES = tuple(s.value for s in SearchScope)

    @classmethod
    def empty(cls) -> _SearchForm:
        return cls(None, None, "", "", "messages", "", 10)

    @classmethod
    def of(cls, ctx: Ctx) -> _SearchForm:
        limit = _int_arg(ctx, "limit") or 10
        session, user = ctx.arg("session"), ctx.arg("user")
        return cls(
            check_id("session", session) if session is not None else None,
            check_id("user", user) if user is not None else None,
            ctx.arg("text") or "",
            ctx.arg("type") or "",
            ctx.arg("scope") or "messages",
            ctx.arg("metadata") or "",
            limit,
        )


def _json_object(text: str) -> Any:
    """A JSON object typed into a form; anything else is a BadRequestError naming what is wrong."""
    if not text.strip():
        raise BadRequestError('metadata must be a JSON object, e.g. {"topic": "billing"}')
    try:
        json.loads(text)
    except ValueError as exc:
        raise BadRequestError(f"that is not valid JSON: {exc}") from None
    # The API's limits (depth, size, numbers) apply to what the page sends too.
    value = parse_json(text.encode())
    if not isinstance(value, dict):
        raise BadRequestError("metadata must be a JSON object ({...}), not " + type(value).__name__)
    return value


def _safe_next(target: str | None, base: str) -> str:
    """Only a path inside the admin page (an open redirect otherwise)."""
    inside = target == base or target.startswith((base + "/", base + "?")) if target else False
    if target and inside and "\\" not in target and "//" not in target:
        return target
    return base


def _with_query(ctx: Ctx, **params: str) -> Ctx:
    """The context with ``params`` as its query (a POST that shows a page again)."""
    scope = dict(ctx.request.scope)
    scope["query_string"] = urlencode(params).encode()
    scope["method"] = "GET"
    request = Request(scope)
    return Ctx(
        request, ctx.session, ctx.principal, ctx.base, ctx.form, ctx.tenant_id, ctx.tenant, ctx.cookie_changed
    )


def _interleaved(page: browse.ChatPage) -> list[tuple[str, Any]]:
    """Messages in order, each summary right after the newest message it folded."""
    notes: dict[int, list[browse.ChatSummary]] = {}
    for note in page.summaries:
        notes.setdefault(note.point_seq, []).append(note)
    items: list[tuple[str, Any]] = []
    for entry in page.messages:
        items.append(("message", entry))
        items.extend(("summary", note) for note in notes.get(entry.seq, ()))
    return items


def admin_dispatch(inner: ASGIApp, admin: ASGIApp) -> ASGIApp:
    """``/admin`` and below go to the admin page, everything else to ``inner`` (the API)."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path == PREFIX or path.startswith(PREFIX + "/"):
                await admin(scope, receive, send)
                return
        await inner(scope, receive, send)

    return dispatch
