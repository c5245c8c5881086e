"""``GET /healthz``: exactly ``.`` with status 200, which zep-python checks on construction."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

router = APIRouter()


@router.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
def healthz() -> PlainTextResponse:
    return PlainTextResponse(".")
