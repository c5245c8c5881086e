"""What chatmem accepts: caller-chosen ids, text and JSON that both databases and every JSON encoder on
the way back (orjson, PostgreSQL's jsonb, SQLite's JSON text) store and return unchanged.

The limits (docs/limits.md):
- JSON nests at most ``MAX_JSON_DEPTH`` levels (orjson refuses to encode past 254, and deep values
  cost stack on every read);
- integers are signed 64-bit (PostgreSQL's jsonb keeps bigger ones, orjson cannot read them back);
- other numbers are finite, not ``-0.0`` (jsonb has no negative zero) and below ``MAX_FLOAT`` in
  magnitude (jsonb turns ``1e+16`` into ``10000000000000000``, an integer on the way back);
- strings and keys are valid UTF-8 without NUL (PostgreSQL stores neither a NUL nor a lone surrogate).
"""

from __future__ import annotations

import json
import math
from typing import Any

from chatmem.base.errors import BadRequestError

# A B-tree entry in PostgreSQL holds at most ~2.7 kB; keep ids well inside it on both databases.
MAX_ID_BYTES = 2048
MAX_JSON_DEPTH = 32
MIN_INT = -(2**63)
MAX_INT = 2**63 - 1
MAX_FLOAT = 1e15


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


def check_number(field: str, value: int | float) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise BadRequestError(f"{field}: integers must be within the signed 64-bit range")
        return
    if not math.isfinite(value):
        raise BadRequestError(f"{field}: numbers must be finite (no NaN, Infinity or overflow like 1e400)")
    if abs(value) >= MAX_FLOAT:
        raise BadRequestError(
            f"{field}: a number with a fraction or exponent must be below {MAX_FLOAT:.0e} in magnitude "
            "(send larger values as integers)"
        )
    if value == 0 and math.copysign(1, value) < 0:
        raise BadRequestError(f"{field}: -0.0 cannot be stored (send 0.0)")


def check_json(field: str, value: Any, _depth: int = 1) -> Any:
    """Walk a JSON value: depth, numbers, and ``check_text`` on every key and string."""
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, int | float):
        check_number(field, value)
    elif isinstance(value, dict | list):
        if _depth > MAX_JSON_DEPTH:
            raise BadRequestError(f"{field} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                check_text(field, key)
                check_json(field, item, _depth + 1)
        else:
            for item in value:
                check_json(field, item, _depth + 1)
    return value


def _refuse_constant(name: str) -> Any:
    raise BadRequestError(f"the request body: numbers must be finite, got {name}")


def parse_json(body: bytes) -> Any:
    """A request body as a JSON value within the limits above; anything else is a BadRequestError.

    The standard library's parser, not orjson: orjson reads an integer above 2**64 as a float, so the
    check could not tell it from a real float.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("the request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequestError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:
        raise BadRequestError("the request body is not valid JSON") from None
    return check_json("the request body", value)
