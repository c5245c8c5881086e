"""Shared by the client scripts, which run under .venv-compat's Python (zep-python 1.5.0, LangChain).

A script is called as ``python SCRIPT BASE_URL PREFIX [ARGS...]`` and prints one JSON object: what it
observed. It asserts nothing itself, so the pytest side shows every expectation and its actual value.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from zep_python import APIError, NotFoundError

# Ids that must survive the SDK's f-string paths unchanged: httpx percent-encodes spaces and
# non-ASCII, and the server decodes them (ids with "/", "?", "#" or "%" cannot go through the SDK).
SPACE_UNICODE = "with spaces ünïcødé 会话 🚀"


def arguments() -> tuple[str, str]:
    """The server's base URL and a prefix that makes this run's ids unique."""
    return sys.argv[1], sys.argv[2]


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=True, default=str))


def error_of(call: Callable[[], object]) -> dict[str, Any]:
    """How a call fails, as the SDK reports it: the exception class and, for APIError, the status
    and the parsed error body."""
    try:
        call()
    except (APIError, NotFoundError) as exc:
        return describe(exc)
    return {"error": None}


async def aerror_of(call: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    try:
        await call()
    except (APIError, NotFoundError) as exc:
        return describe(exc)
    return {"error": None}


def describe(exc: APIError | NotFoundError) -> dict[str, Any]:
    described: dict[str, Any] = {"error": type(exc).__name__}
    data = exc.response_data or {}
    if "status_code" in data:
        described["status"] = data["status_code"]
        try:
            described["body"] = json.loads(data["message"])
        except ValueError:
            described["body"] = data["message"]
    return described
