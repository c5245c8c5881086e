"""Path and query parameters with Zep's leniency and chatmem's strictness.

Empty query values (``?limit=&cursor=``, which zep-python sends) mean "not given"; anything else
that is not an integer is a 400 (never FastAPI's 422).
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import quote, unquote

from starlette.convertors import Convertor, register_url_convertor

from chatmem.base.errors import BadRequestError
from chatmem.base.validation import MAX_INT


class IdConvertor(Convertor[str]):
    """A caller-chosen id in one path segment; ``%2F`` and ``%25`` inside it are decoded here."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("id", IdConvertor())

_INTEGER = re.compile(r"-?[0-9]{1,19}")


def parse_int(
    name: str, raw: str | None, *, minimum: int | None = None, maximum: int = MAX_INT
) -> int | None:
    """An integer query value; outside ``minimum..maximum`` (at most signed 64-bit) is a 400."""
    if raw is None or raw == "":
        return None
    # int() takes "1_000" and " 7 " and thousands of digits; a query value is plain ASCII digits.
    if _INTEGER.fullmatch(raw) is None:
        raise BadRequestError(f"{name} must be an integer, got {raw[:40]!r}")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise BadRequestError(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise BadRequestError(f"{name} must be at most {maximum}, got {value}")
    return value


def parse_bool(name: str, raw: str | None) -> bool:
    if raw is None or raw == "":
        return False
    value = raw.lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise BadRequestError(f"{name} must be true or false, got {raw!r}")


def encode_keyset(position: int) -> str:
    return base64.urlsafe_b64encode(f"k{position}".encode()).decode().rstrip("=")


def decode_keyset(token: str | None) -> int | None:
    if token is None or token == "":
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith("k"):
            raise ValueError(text)
        position = parse_int("after", text[1:], minimum=0)
        if position is None:
            raise ValueError(text)
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError, BadRequestError):
        raise BadRequestError(f"after must be a cursor returned by this server, got {token[:40]!r}") from None


def parse_lastn(raw: str | None, maximum: int) -> int | None:
    """``lastn`` of GET memory: None or 0 is the window; above ``maximum`` (CHATMEM_MAX_LASTN) is a 400."""
    return parse_int("lastn", raw, minimum=0, maximum=maximum) or None
