"""``GET /metrics``: Prometheus text format (``chatmem.server.metrics_export``). With auth on, the auth
layer lets only admins through unless ``CHATMEM_METRICS_PUBLIC`` (``chatmem.server.auth``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from chatmem.server.metrics_export import render
from chatmem.server.responses import error

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    if not request.app.state.settings.metrics:
        return error(404, "not found: metrics are off (CHATMEM_METRICS=false)")
    return Response(render(request.app.state.db), media_type=CONTENT_TYPE_LATEST)
