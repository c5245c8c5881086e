"""``GET /healthz``: exactly ``.`` with status 200, which zep-python checks on construction.
``GET /readyz``: 200 only when the database answers and its schema is at this chatmem's newest
migration (a load balancer's readiness probe); 503 with the reason otherwise. A schema newer than this
chatmem knows (a rolling upgrade: a newer process migrated it) counts as ready, since migrations stay
additive for a release; otherwise every old process would leave the balancer at once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse

from chatmem.server.responses import JSON
from chatmem.store.migrate import head_revision, known_revisions, schema_revision

router = APIRouter()


@router.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
def healthz() -> PlainTextResponse:
    return PlainTextResponse(".")


@router.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
def readyz(request: Request) -> JSON:
    head = head_revision()
    try:
        revision = schema_revision(request.app.state.db)
    except Exception:
        # A connection the database dropped while down fails once and leaves the pool: ask again.
        try:
            revision = schema_revision(request.app.state.db)
        except Exception as exc:
            reason = (
                f"the database does not answer: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
            )
            return JSON({"status": "unavailable", "reason": reason}, status_code=503)
    if revision != head and (revision is None or revision in known_revisions()):
        reason = (
            f"the schema is at {revision or 'no revision'}, this chatmem needs {head}: run `chatmem migrate`"
        )
        return JSON({"status": "unavailable", "reason": reason, "revision": revision}, status_code=503)
    return JSON({"status": "ready", "revision": revision})
