"""JSON as chatmem stores and sends it."""

from __future__ import annotations

from typing import Any

import orjson

JsonObject = dict[str, Any]


def json_text(value: Any) -> str:
    return orjson.dumps(value).decode()
