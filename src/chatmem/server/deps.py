"""Request-scoped dependencies: the database and the settings of the running app."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from chatmem.access.roles import Principal
from chatmem.config import Settings
from chatmem.server.auth import principal_of
from chatmem.store import Database


# async on purpose: FastAPI runs a plain-def dependency in the thread pool, a hop that costs more
# than everything these two lookups do.
async def _db(request: Request) -> Database:
    return cast(Database, request.app.state.db)


async def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def _principal(request: Request) -> Principal:
    return principal_of(request.scope)


Db = Annotated[Database, Depends(_db)]
AppSettings = Annotated[Settings, Depends(_settings)]
# Who is calling (``chatmem.server.auth``): the tenant every query is scoped by, and the role.
Caller = Annotated[Principal, Depends(_principal)]
