"""``GET /metrics``: Prometheus text format (``chatmem.server.metrics_export``)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from chatmem.server.metrics_export import render
from chatmem.server.responses import error

router = APIRouter()

# The hook the auth layer fills in (``app.state.metrics_admin_check``): given the request, None when
# it carries an admin credential, else the 401/403 response to send. Unset while auth is off.
AdminCheck = Callable[[Request], Response | None]


def metrics_refusal(request: Request) -> Response | None:
    """None when this request may read the metrics: they are public (``CHATMEM_METRICS_PUBLIC``), or
    no auth is installed, or the auth layer's admin check passes."""
    if request.app.state.settings.metrics_public:
        return None
    check: AdminCheck | None = getattr(request.app.state, "metrics_admin_check", None)
    return None if check is None else check(request)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    if not request.app.state.settings.metrics:
        return error(404, "not found: metrics are off (CHATMEM_METRICS=false)")
    refused = metrics_refusal(request)
    if refused is not None:
        return refused
    return Response(render(request.app.state.db), media_type=CONTENT_TYPE_LATEST)
