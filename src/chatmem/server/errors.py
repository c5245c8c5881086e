"""Every error becomes JSON ``{"message": ...}`` with the status the SDKs expect (never 422)."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from chatmem.base.errors import BadRequestError, ChatmemError, NotFoundError
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


def _domain_error(exc: ChatmemError) -> Response:
    if isinstance(exc, NotFoundError):
        return error(404, exc.message)
    if isinstance(exc, BadRequestError):
        return error(400, f"bad request: {exc.message}")
    return error(400, exc.message)


def error_response(exc: Exception, method: str, path: str) -> Response:
    """The response for an exception a handler raised: the app's exception handlers and the fast path
    (``chatmem.server.fast_routes``), which runs outside them, both answer with this."""
    if isinstance(exc, ChatmemError):
        return _domain_error(exc)
    if isinstance(exc, _DATABASE_UNAVAILABLE):
        return _unavailable(exc, method, path)
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error(500, "internal server error")


def _unavailable(exc: Exception, method: str, path: str) -> Response:
    log.warning("database unavailable on %s %s: %s", method, path, exc)
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
