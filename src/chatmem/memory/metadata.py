"""Metadata updates: RFC 7396 JSON merge-patch, and the reserved ``system`` key."""

from __future__ import annotations

from typing import Any

from chatmem.base.errors import BadRequestError
from chatmem.base.json import JsonObject
from chatmem.base.validation import check_json

SYSTEM_KEY = "system"


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply ``patch`` to ``target`` as RFC 7396 describes.

    Objects merge key by key, recursively; ``null`` removes a key; anything else (scalars, arrays)
    replaces. ``target`` is not modified.
    """
    if not isinstance(patch, dict):
        return patch
    result: JsonObject = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def without_system(patch: JsonObject) -> JsonObject:
    """Drop the reserved top-level ``system`` key, which only chatmem itself may write."""
    if SYSTEM_KEY not in patch:
        return patch
    return {key: value for key, value in patch.items() if key != SYSTEM_KEY}


def checked_patch(patch: JsonObject | None, *, privileged: bool) -> JsonObject | None:
    """Validate a metadata patch from a caller; None means "leave metadata as it is".

    An empty object is refused rather than silently ignored (it is almost always a client bug).
    Unprivileged writers (session and message PATCH) cannot touch ``system``.
    """
    if patch is None:
        return None
    if not patch:
        raise BadRequestError("metadata cannot be empty: omit it or send null to leave it unchanged")
    check_json("metadata", patch)
    return patch if privileged else without_system(patch)
