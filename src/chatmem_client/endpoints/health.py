"""``GET /healthz``: is a chatmem (or Zep 0.x) server answering at the base URL?"""

from __future__ import annotations

import httpx

from chatmem_client.call import Call
from chatmem_client.errors import APIError

VERSION_HEADER = "X-Zep-Version"


def _read_health(response: httpx.Response) -> str:
    if response.text != ".":
        raise APIError(
            f"{response.url} answered {response.text[:80]!r}, not '.': is this a chatmem server?",
            status_code=response.status_code,
        )
    return str(response.headers.get(VERSION_HEADER, ""))


def check_health() -> Call[str]:
    """Check that the server answers, and return its version (the ``X-Zep-Version`` header,
    e.g. ``"0.27.2-chatmem (0.1.0)"``). Raises ``ServerUnreachableError`` when nothing answers."""
    return Call("GET", "healthz", _read_health)
