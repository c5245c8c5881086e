"""The application factory."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from chatmem.base.activity import RequestActivity
from chatmem.config import Settings, get_settings
from chatmem.embeddings import describe
from chatmem.enrich.worker import WorkerPool
from chatmem.search.service import Searcher
from chatmem.search.vectors import single_threaded_blas
from chatmem.server import access_log as access
from chatmem.server import guard
from chatmem.server.admin_ui import AdminUI, admin_dispatch
from chatmem.server.auth import Authenticator, AuthMiddleware
from chatmem.server.docs import install_docs
from chatmem.server.errors import install_error_handlers
from chatmem.server.fast_routes import FastRoutes
from chatmem.server.metrics_export import PoolSampler
from chatmem.server.middleware import ZepTransportMiddleware
from chatmem.server.observe import ObserveMiddleware, record_route
from chatmem.server.openapi import install_openapi
from chatmem.server.purger import PeriodicPurge
from chatmem.server.request_metrics import REQUESTS
from chatmem.server.responses import JSON
from chatmem.server.routes import (
    admin,
    health,
    memory,
    messages,
    metrics,
    portability,
    search,
    sessions,
    users,
)
from chatmem.server.routes import enrichment as enrichment_routes
from chatmem.server.shutdown import Deadline, on_terminate
from chatmem.store import Database
from chatmem.version import __version__

log = logging.getLogger("chatmem.server")


class ChatmemApp(FastAPI):
    """FastAPI with chatmem's transport middleware (``transport``) outermost, in front of FastAPI's
    own error, telemetry and body-limit layers rather than inside them (``add_middleware``): the
    requests its fast path answers (GET and POST memory) skip those layers (docs/benchmarks.md)."""

    def __init__(self, *, transport: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._transport = transport

    def build_middleware_stack(self) -> ASGIApp:
        return self._transport(super().build_middleware_stack())


def fastapi_telemetry(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``FastAPI(telemetry=...)`` argument: FastAPI's own OpenTelemetry spans, metrics and logs left
    on (its defaults) when the environment configures OpenTelemetry (an ``OTEL_*`` variable), off
    otherwise. On, FastAPI asks OpenTelemetry's global providers on every request whether anyone
    listens, three lookups in ``os.environ``: about 3 % of the server's CPU under 32 clients appending
    (py-spy), for nothing when no exporter is configured. FastAPI before 0.165 has no such argument
    (and no such cost): nothing is passed."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    if any(key.startswith("OTEL_") for key in environ):
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app. The schema must already be migrated (``chatmem serve`` does it first)."""
    settings = settings or get_settings()
    owns_db = db is None
    database = db or Database(
        settings.resolved_database_url(), pool_size=settings.db_pool_size, group_commit=settings.group_commit
    )
    # One per app: it holds the query embedder and the in-memory vectors of exact search.
    searcher = Searcher(database, settings)
    # The requests this app takes, which its enrichment workers pause for.
    activity = RequestActivity()
    access_log = None
    if settings.access_log and logging.getLogger(access.LOGGER).isEnabledFor(logging.INFO):
        access_log = access.AccessLog(json=settings.log_format == "json")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        single_threaded_blas()
        log.info("%s", describe(settings))
        if settings.embeddings_preload:
            searcher.preload()
        purger = PeriodicPurge(database, settings.purge_every_minutes)
        purger.start()
        enrichment = WorkerPool(database, settings, settings.enrich_workers, activity=activity)
        enrichment.start()
        sampler = PoolSampler(database)
        if settings.metrics:
            sampler.start()
        deadline = Deadline(settings.shutdown_grace_seconds)

        def terminating() -> None:
            deadline.start()
            enrichment.drain()

        on_terminate(terminating)
        try:
            yield
        finally:
            if authenticator is not None:
                await authenticator.flush_last_used()
            enrichment.stop(timeout=deadline.remaining())
            purger.stop()
            sampler.stop()
            searcher.close()
            if access_log is not None:
                access_log.flush()
            REQUESTS.close()
            # The async read pool lives on this server's event loop, whoever owns the database.
            await database.aclose()
            if owns_db:
                database.dispose()

    authenticator = (
        Authenticator(database, jwt_secret=settings.auth_jwt_secret.get_secret_value())
        if settings.auth_on
        else None
    )

    admin_page = (
        AdminUI(
            database,
            settings,
            searcher,
            allowed_hosts=guard.allowed_hosts(settings.allowed_hosts, settings.host),
        )
        if settings.admin_ui
        else None
    )

    def transport(inner: ASGIApp) -> ASGIApp:
        fast = FastRoutes(database, settings) if settings.fast_path else None
        # Auth in front of the fast path, so no request reaches a route unauthenticated.
        outer: ASGIApp = AuthMiddleware(
            ZepTransportMiddleware(
                record_route(inner),
                max_body_size=settings.max_request_size,
                fast=fast,
                allowed_hosts=guard.allowed_hosts(settings.allowed_hosts, settings.host),
                body_timeout=settings.body_timeout_seconds,
                routes=app.routes,
            ),
            authenticator,
            metrics_public=settings.metrics_public,
        )
        origins = settings.cors_origin_list()
        if origins:
            outer = CORSMiddleware(
                outer,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
                expose_headers=["X-Next-Cursor", "Link", "X-Zep-Version", "X-Request-Id"],
            )
        if admin_page is not None:
            # The admin page signs its browsers in itself (a cookie, not a bearer token): in front of
            # the API's auth and transport layers, which it does not pass through.
            outer = admin_dispatch(outer, admin_page)
        # Outermost: every request gets its id, its metrics and its access line, refused ones too.
        return ObserveMiddleware(
            outer,
            metrics=settings.metrics,
            access_log=access_log,
            auth_on=authenticator is not None,
            activity=activity,
        )

    app = ChatmemApp(
        transport=transport,
        title="chatmem",
        version=__version__,
        description="Long-term memory for LLM chat applications, speaking the Zep 0.x REST API.",
        default_response_class=JSON,
        redirect_slashes=False,
        # Writes without a JSON Content-Type never get here: the transport middleware answers 415.
        strict_content_type=True,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        **fastapi_telemetry(os.environ),
    )
    app.state.settings = settings
    app.state.db = database
    app.state.searcher = searcher
    app.state.activity = activity
    install_error_handlers(app)
    if settings.api_docs:
        install_docs(app)
    routers = (
        health,
        metrics,
        sessions,
        memory,
        messages,
        users,
        enrichment_routes,
        search,
        admin,
        portability,
    )
    for module in routers:
        app.include_router(module.router)
    install_openapi(app, settings)
    return app
