"""Response classes: JSON through orjson (UTC timestamps with ``Z``), and Zep's plain ``OK``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse, PlainTextResponse


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


def ok() -> PlainTextResponse:
    return PlainTextResponse("OK")


def error(status_code: int, message: str) -> JSON:
    return JSON({"message": message}, status_code=status_code)
