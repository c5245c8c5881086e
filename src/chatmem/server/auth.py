"""Authentication and authorization of every request, in front of everything else (the fast path too).

``AuthMiddleware`` is the outermost layer of the app (inside CORS only): it resolves the request's
credential to a ``Principal`` (tenant and role), refuses what the role may not do, and leaves the
principal in the ASGI scope, where the fast path and the routes read the tenant (``principal_of``).

Hot-path cost: a resolved credential is cached in the process, keyed by the SHA-256 of the token, so a
request with a known key costs one hash and one dict lookup. The cache is dropped whenever the
database's auth revision moves (every revocation and tenant deletion bumps it), which each process
checks at most every ``REFRESH_SECONDS``: a revoked key stops working everywhere within a second.
``last_used_at`` is written in one batch per ``LAST_USED_EVERY_SECONDS``, never per request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from starlette.types import ASGIApp, Receive, Scope, Send

from chatmem.access import keys, revision, tokens
from chatmem.access.roles import Principal, Role
from chatmem.server.errors import error_response
from chatmem.server.responses import error
from chatmem.store import Database
from chatmem.store.prepared import Prepared, ReadPlan, statement
from chatmem.store.tables import DEFAULT_TENANT, DEFAULT_TENANT_ID, tenants
from chatmem.version import ZEP_VERSION_HEADER

log = logging.getLogger("chatmem.auth")

REFRESH_SECONDS = 0.5
LAST_USED_EVERY_SECONDS = 60.0
# Distinct credentials cached per process; past this the cache starts over (a flood of valid keys).
CACHE_MAX = 100_000
SCOPE_KEY = "chatmem.principal"
# Paths anyone may call: probes (zep-python calls /healthz without a header) and the API description.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# Routes that manage the deployment rather than one tenant's memories.
ADMIN_PREFIXES = ("/api/v1/admin/", "/api/v1/enrichment/")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# With auth off everything acts as an admin of the default tenant, as before tenants existed.
UNAUTHENTICATED = Principal(DEFAULT_TENANT_ID, DEFAULT_TENANT, Role.ADMIN)


def required_role(method: str, path: str) -> Role:
    """The least role a request needs. Anything not a read is a write unless listed here, so a route
    added later is never readable by less than it should be."""
    if path.startswith(ADMIN_PREFIXES) or path in ("/api/v1/admin", "/metrics"):
        return Role.ADMIN
    if method in _READ_METHODS or (method == "POST" and path.endswith("/search")):
        return Role.READER
    return Role.WRITER


def principal_of(scope: Scope) -> Principal:
    principal: Principal = scope.get(SCOPE_KEY, UNAUTHENTICATED)
    return principal


class Unauthorized(Exception):
    """No credential, or one that is not accepted; the message says which (safe to show)."""


_tenant_by_name = Prepared(
    sa.select(tenants.c.id).where(tenants.c.name == sa.bindparam("name"), tenants.c.deleted_at.is_(None))
)


def _tenant_id_plan(name: str) -> ReadPlan[int | None]:
    rows = yield statement(_tenant_by_name, name=name)
    return int(rows[0][0]) if rows else None


class Authenticator:
    """Credential -> ``Principal`` for one server process, with the cache described above."""

    def __init__(
        self,
        db: Database,
        *,
        jwt_secret: str = "",
        refresh_seconds: float = REFRESH_SECONDS,
        last_used_every: float = LAST_USED_EVERY_SECONDS,
    ) -> None:
        self.db = db
        self.jwt_secret = jwt_secret
        self.refresh_seconds = refresh_seconds
        self.last_used_every = last_used_every
        # sha256(token) -> (principal, unix time it expires or None)
        self._cache: dict[bytes, tuple[Principal, float | None]] = {}
        self._generation = 0  # bumped whenever the cache is dropped
        self._revision: int | None = None
        self._next_check = 0.0
        self._used: dict[str, float] = {}
        self._next_flush = time.monotonic() + last_used_every

    def cached(self, token: str) -> Principal | None:
        """The principal of a credential resolved before, while the cache is known to be fresh; None
        when ``authenticate`` must run. No coroutine: this is every request's path."""
        if time.monotonic() >= self._next_check:
            return None
        hit = self._cache.get(hashlib.sha256(token.encode()).digest())
        if hit is None:
            return None
        principal, expires = hit
        now = time.time()
        if expires is not None and now >= expires:
            return None
        if principal.key_id is not None:
            self._used[principal.key_id] = now
        return principal

    async def authenticate(self, token: str) -> Principal:
        await self._refresh()
        token_digest = hashlib.sha256(token.encode()).digest()
        hit = self._cache.get(token_digest)
        if hit is not None:
            principal, expires = hit
            if expires is None or time.time() < expires:
                if principal.key_id is not None:
                    self._used[principal.key_id] = time.time()
                return principal
            del self._cache[token_digest]
        generation = self._generation
        principal, expires = await self._resolve(token)
        # A resolution that raced with a cache drop may have read what the drop was about.
        if generation == self._generation:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[token_digest] = (principal, expires)
        if principal.key_id is not None:
            self._used[principal.key_id] = time.time()
        return principal

    async def _resolve(self, token: str) -> tuple[Principal, float | None]:
        if keys.key_id_of(token) is not None:
            principal = await self.db.aread_plan(keys.resolve_plan(token))
            if principal is None:
                raise Unauthorized("the API key is not valid (unknown, revoked, or its tenant was deleted)")
            return principal, None
        if not tokens.looks_like_jwt(token):
            raise Unauthorized("the credential is neither a chatmem API key nor a JWT")
        try:
            claims = tokens.verify(token, self.jwt_secret)
        except tokens.TokenError as exc:
            raise Unauthorized(str(exc)) from None
        tenant_id = await self.db.aread_plan(_tenant_id_plan(claims.tenant))
        if tenant_id is None:
            raise Unauthorized(f"the token's tenant does not exist: {claims.tenant}")
        return Principal(tenant_id, claims.tenant, claims.role), claims.expires_at

    async def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.refresh_seconds
        try:
            current = await self.db.aread_plan(revision.current_plan())
        except BaseException:
            self._drop()
            self._next_check = 0.0
            raise
        if current != self._revision:
            self._drop()
            self._revision = current
        if self._used and now >= self._next_flush:
            await self.flush_last_used()

    def _drop(self) -> None:
        self._cache.clear()
        self._generation += 1

    async def flush_last_used(self) -> None:
        """Write the keys' ``last_used_at`` gathered since the last flush, in one transaction."""
        used, self._used = self._used, {}
        self._next_flush = time.monotonic() + self.last_used_every
        if not used:
            return
        stamps = {key_id: datetime.fromtimestamp(at, UTC) for key_id, at in used.items()}
        try:
            await self.db.awrite_plan(keys.record_use_plan(stamps))
        except Exception as exc:  # bookkeeping only: never fail a request for it
            log.warning("could not record the keys' last use: %s", exc)


def bearer_token(scope: Scope) -> str | None:
    """The credential of ``Authorization: Bearer <token>`` (what the Zep SDKs send) or ``Api-Key``."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").strip().partition(" ")
            if scheme.lower() in ("bearer", "api-key") and token.strip():
                return token.strip()
            return None
    return None


class AuthMiddleware:
    """See the module docstring. ``authenticator`` None: auth is off (everything in ``default``)."""

    def __init__(
        self, app: ASGIApp, authenticator: Authenticator | None, *, metrics_public: bool = False
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        # /metrics needs an admin unless the operator made it public (a scraper on a private network).
        self.open_paths = OPEN_PATHS | {"/metrics"} if metrics_public else OPEN_PATHS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.authenticator is None:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.rstrip("/").lower() in self.open_paths:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if token is None:
            await _unauthorized("no credential: send Authorization: Bearer <API key or token>", False)(
                scope, receive, send
            )
            return
        try:
            principal = self.authenticator.cached(token) or await self.authenticator.authenticate(token)
        except Unauthorized as exc:
            await _unauthorized(str(exc), True)(scope, receive, send)
            return
        except Exception as exc:  # the database is unreachable: 503, as everywhere else
            await error_response(exc, scope["method"], path)(scope, receive, send)
            return
        # Set before the role check: a refused request's access line still names its tenant.
        scope[SCOPE_KEY] = principal
        needed = required_role(scope["method"], path)
        if principal.role < needed:
            response = error(
                403, f"a {principal.role.label} key may not {scope['method']} {path}: it needs {needed.label}"
            )
            response.headers["X-Zep-Version"] = ZEP_VERSION_HEADER
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _unauthorized(message: str, invalid: bool) -> ASGIApp:
    response = error(401, message)
    challenge = 'Bearer realm="chatmem"' + (', error="invalid_token"' if invalid else "")
    response.headers["WWW-Authenticate"] = challenge
    response.headers["X-Zep-Version"] = ZEP_VERSION_HEADER
    return response
