"""Checks on caller-chosen identifiers and text, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from chatmem.base.errors import BadRequestError

# A B-tree entry in PostgreSQL holds at most ~2.7 kB; keep ids well inside it on both databases.
MAX_ID_BYTES = 2048


def check_id(kind: str, value: str) -> str:
    if not value or not value.strip():
        raise BadRequestError(f"{kind} cannot be empty")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise BadRequestError(f"{kind} is longer than {MAX_ID_BYTES} bytes")
    check_text(kind, value)
    return value


def check_text(field: str, value: str) -> str:
    if "\x00" in value:
        # PostgreSQL cannot store NUL in text or jsonb; refuse it on both databases alike.
        raise BadRequestError(f"{field} contains a NUL character (\\u0000), which cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRequestError(f"{field} contains an unpaired surrogate and is not valid UTF-8") from exc
    return value


def check_json(field: str, value: Any) -> Any:
    """Walk a metadata value and apply ``check_text`` to every key and string in it."""
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(field, key)
            check_json(field, item)
    elif isinstance(value, list):
        for item in value:
            check_json(field, item)
    return value
