"""Request-scoped dependencies: the database and the settings of the running app."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from chatmem.config import Settings
from chatmem.store import Database


# async on purpose: FastAPI runs a plain-def dependency in the thread pool, a hop that costs more
# than everything these two lookups do.
async def _db(request: Request) -> Database:
    return cast(Database, request.app.state.db)


async def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


Db = Annotated[Database, Depends(_db)]
AppSettings = Annotated[Settings, Depends(_settings)]
