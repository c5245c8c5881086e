"""The checks every request passes before any route sees it (``ZepTransportMiddleware`` runs them), so
the FastAPI routes and the fast path accept exactly the same input:

- the Host header names this server (DNS rebinding: a web page whose name resolves to 127.0.0.1 must
  not read a local chatmem);
- the path is valid UTF-8 without NUL once percent-decoded (``x%FF`` and ``x%FE`` must not both
  become ``x\\ufffd``);
- a write (POST, PUT, PATCH) says ``Content-Type: application/json``: a cross-site form or
  ``text/plain`` fetch cannot write into a local server;
- its body is JSON within ``chatmem.base.validation``'s limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote

from chatmem.base.errors import BadRequestError, ChatmemError
from chatmem.base.validation import parse_json

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = ("", "0.0.0.0", "::")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Bodies above this are parsed and checked in a worker thread (here and in the fast path): a 5 MB body
# costs tens of milliseconds of CPU that would otherwise stall every other request on the event loop.
OFF_LOOP_BODY_BYTES = 64 * 1024


class ForbiddenHostError(ChatmemError):
    """The Host header names no host this server answers for (a 400, as Django and Starlette do)."""


def allowed_hosts(configured: str, listen_host: str) -> frozenset[str]:
    """``CHATMEM_ALLOWED_HOSTS`` (comma-separated; ``*`` allows any), else the loopback names and the
    address the server listens on."""
    names = [name.strip().lower() for name in configured.split(",") if name.strip()]
    if not names:
        names = [*LOOPBACK_HOSTS]
        if listen_host not in _ANY_ADDRESS:
            names.append(listen_host.lower())
    return frozenset(name.strip("[]") for name in names)


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1 : value.find("]")] if "]" in value else value
    name, _, port = value.rpartition(":")
    return name if name and port.isdigit() else value


def check_host(headers: Iterable[tuple[bytes, bytes]], allowed: frozenset[str]) -> None:
    if "*" in allowed:
        return
    for key, value in headers:
        if key == b"host":
            name = _host_name(value.decode("latin-1"))
            if name in allowed or any(
                pattern.startswith("*.") and name.endswith(pattern[1:]) for pattern in allowed
            ):
                return
            raise ForbiddenHostError(
                "this server does not answer for that Host; list it in CHATMEM_ALLOWED_HOSTS"
            )
    # No Host header at all (HTTP/1.0): nothing a browser would send.


def check_path(raw_path: bytes) -> None:
    """Every segment decodes to UTF-8 without NUL."""
    for segment in raw_path.decode("latin-1").split("/"):
        if "%" not in segment:
            continue
        try:
            decoded = unquote(segment, errors="strict")
        except UnicodeDecodeError:
            raise BadRequestError("the path is not valid UTF-8 once percent-decoded") from None
        if "\x00" in decoded:
            raise BadRequestError("the path contains a NUL character (%00)")


def check_content_type(headers: Iterable[tuple[bytes, bytes]]) -> None:
    for key, value in headers:
        if key == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            ):
                return
            break
    raise UnsupportedMediaTypeError("a write must be sent with Content-Type: application/json")


class UnsupportedMediaTypeError(ChatmemError):
    """A write without a JSON Content-Type (415)."""


def check_body(body: bytes) -> object:
    """The parsed body (None for an empty one); a BadRequestError if it breaks a limit."""
    if not body.strip():
        return None
    return parse_json(body)
