"""Every error becomes JSON ``{"message": ...}`` with the status the SDKs expect (never 422)."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatmem.base.errors import BadRequestError, ChatmemError, ForbiddenError, NotFoundError
from chatmem.server.guard import ForbiddenHostError, UnsupportedMediaTypeError
from chatmem.server.responses import error

log = logging.getLogger("chatmem.server")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for item in exc.errors():
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        message = item.get("msg", "invalid value")
        if item.get("type") == "json_invalid":
            message = "the request body is not valid JSON"
            location = ""
        elif tuple(item.get("loc", ())) == ("body",):
            message = "the request body must be a JSON object (with Content-Type: application/json)"
            location = ""
        parts.append(f"{location}: {message}" if location else message)
    return "bad request: " + "; ".join(parts)


_DATABASE_UNAVAILABLE = (psycopg.OperationalError, sqlite3.OperationalError, SQLAlchemyOperationalError)
# What the database says when a statement, not the database, is the problem: a value out of range, a
# query too large to plan. Retrying cannot help, so these are 400s, never 503s. The input checks
# refuse all of this first; this is the net under them.
_PG_REFUSED_INPUT = (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded)
_SQLITE_REFUSED_INPUT = ("too big", "too large", "too many", "stack overflow", "too deep", "out of range")


def _refused_input(exc: Exception) -> bool:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(cause, _PG_REFUSED_INPUT):
        return True
    if isinstance(cause, sqlite3.Error):
        text = str(cause).lower()
        return any(marker in text for marker in _SQLITE_REFUSED_INPUT)
    return False


def _domain_error(exc: ChatmemError) -> Response:
    if isinstance(exc, NotFoundError):
        return error(404, exc.message)
    if isinstance(exc, ForbiddenError):
        return error(403, exc.message)
    if isinstance(exc, UnsupportedMediaTypeError):
        return error(415, exc.message)
    if isinstance(exc, ForbiddenHostError):
        return error(400, exc.message)
    if isinstance(exc, BadRequestError):
        return error(400, f"bad request: {exc.message}")
    return error(400, exc.message)


def error_response(exc: Exception, method: str, path: str) -> Response:
    """The response for an exception a handler raised: the app's exception handlers and the fast path
    (``chatmem.server.fast_routes``), which runs outside them, both answer with this."""
    if isinstance(exc, ChatmemError):
        return _domain_error(exc)
    if _refused_input(exc):
        log.info("the database refused a value on %s %s: %s", method, path, type(exc).__name__)
        return error(400, "bad request: a value is out of the range the database can store")
    if isinstance(exc, _DATABASE_UNAVAILABLE):
        return _unavailable(exc, method, path)
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error(500, "internal server error")


def _unavailable(exc: Exception, method: str, path: str) -> Response:
    # The exception's text, not its statement and parameters (message content): str() of a SQLAlchemy
    # error carries both.
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    log.warning("database unavailable on %s %s: %s", method, path, cause)
    return error(503, "the database is unavailable; retry the request")


def install_error_handlers(app: FastAPI) -> None:
    async def _mapped(request: Request, exc: Exception) -> Response:
        return error_response(exc, request.method, request.url.path)

    app.add_exception_handler(ChatmemError, _mapped)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        return error(400, _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> Response:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        return error(exc.status_code, message)

    # The database went away or stayed busy past the timeout: the request can be retried, and the
    # connection is dropped from the pool. (Registered per class rather than left to the catch-all
    # below, which would also close the client's keep-alive connection.)
    for operational in _DATABASE_UNAVAILABLE:
        app.add_exception_handler(operational, _mapped)

    app.add_exception_handler(Exception, _mapped)
    app.add_middleware(AnswerEveryError)


class AnswerEveryError:
    """Turns an exception no handler took into its response, inside Starlette's ServerErrorMiddleware.

    That middleware answers such an exception too, but then re-raises it to the server, which closes
    the client's keep-alive connection: a client that sent one bad request would lose the connection
    its other requests were queued on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await error_response(exc, scope["method"], scope["path"])(scope, receive, send)
