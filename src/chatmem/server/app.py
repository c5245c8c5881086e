"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from chatmem.config import Settings, get_settings
from chatmem.enrich.worker import WorkerPool
from chatmem.search.service import Searcher
from chatmem.search.vectors import single_threaded_blas
from chatmem.server.auth import Authenticator, AuthMiddleware
from chatmem.server.errors import install_error_handlers
from chatmem.server.fast_routes import FastRoutes
from chatmem.server.middleware import ZepTransportMiddleware
from chatmem.server.purger import PeriodicPurge
from chatmem.server.responses import JSON
from chatmem.server.routes import admin, health, memory, messages, portability, search, sessions, users
from chatmem.server.routes import enrichment as enrichment_routes
from chatmem.store import Database
from chatmem.version import __version__


class ChatmemApp(FastAPI):
    """FastAPI with chatmem's transport middleware (``transport``) outermost, in front of FastAPI's
    own error, telemetry and body-limit layers rather than inside them (``add_middleware``): the
    requests its fast path answers (GET and POST memory) skip those layers (docs/benchmarks.md)."""

    def __init__(self, *, transport: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._transport = transport

    def build_middleware_stack(self) -> ASGIApp:
        return self._transport(super().build_middleware_stack())


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the app. The schema must already be migrated (``chatmem serve`` does it first)."""
    settings = settings or get_settings()
    owns_db = db is None
    database = db or Database(settings.resolved_database_url(), pool_size=settings.db_pool_size)
    # One per app: it holds the query embedder and the in-memory vectors of exact search.
    searcher = Searcher(database, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        single_threaded_blas()
        if settings.embeddings_preload:
            searcher.preload()
        purger = PeriodicPurge(database, settings.purge_every_minutes)
        purger.start()
        enrichment = WorkerPool(database, settings, settings.enrich_workers)
        enrichment.start()
        try:
            yield
        finally:
            if authenticator is not None:
                await authenticator.flush_last_used()
            enrichment.stop()
            purger.stop()
            # The async read pool lives on this server's event loop, whoever owns the database.
            await database.aclose()
            if owns_db:
                database.dispose()

    authenticator = (
        Authenticator(database, jwt_secret=settings.auth_jwt_secret.get_secret_value())
        if settings.auth_on
        else None
    )

    def transport(inner: ASGIApp) -> ASGIApp:
        fast = FastRoutes(database, settings)
        # Auth in front of the fast path, so no request reaches a route unauthenticated.
        outer: ASGIApp = AuthMiddleware(
            ZepTransportMiddleware(inner, max_body_size=settings.max_request_size, fast=fast), authenticator
        )
        origins = settings.cors_origin_list()
        if origins:
            outer = CORSMiddleware(
                outer,
                allow_origins=origins,
                allow_methods=["GET", "POST", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type"],
                expose_headers=["X-Next-Cursor", "Link", "X-Zep-Version"],
            )
        return outer

    app = ChatmemApp(
        transport=transport,
        title="chatmem",
        version=__version__,
        description="Long-term memory for LLM chat applications, speaking the Zep 0.x REST API.",
        default_response_class=JSON,
        redirect_slashes=False,
        # Zep parsed JSON bodies whatever the Content-Type; so do we when none is sent.
        strict_content_type=False,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.searcher = searcher
    install_error_handlers(app)
    for module in (health, sessions, memory, messages, users, enrichment_routes, search, admin, portability):
        app.include_router(module.router)
    return app
