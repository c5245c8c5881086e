"""The dump format: one JSON object per line, a versioned header first and an ``end`` line last.

Per session, its line comes first, then its summaries, then its messages in order; users come before
every session. docs/portability.md describes each field. Reading validates each line with the checks
the API applies to the same values (``chatmem.memory.validation``), so nothing is imported that the API
would refuse.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson

from chatmem.base.errors import BadRequestError
from chatmem.base.json import JsonObject
from chatmem.base.validation import MAX_ID_BYTES, check_id, check_json, check_text

FORMAT = "chatmem-export"
VERSION = 1

# The kinds of line, in the order a dump holds them.
HEADER, USER, SESSION, SUMMARY, MESSAGE, END = "header", "user", "session", "summary", "message", "end"


def encode(record: JsonObject) -> bytes:
    """One line of the dump (UTC timestamps with ``Z``, UUIDs as strings)."""
    return orjson.dumps(record, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE)


def header(tenant: str, selection: JsonObject, with_embeddings: bool, exported_at: dt.datetime) -> JsonObject:
    return {
        "type": HEADER,
        "format": FORMAT,
        "version": VERSION,
        "exported_at": exported_at,
        "tenant": tenant,
        "selection": selection,
        "with_embeddings": with_embeddings,
    }


def embedding_json(model: str | None, dimensions: int | None, vector: bytes | None) -> JsonObject | None:
    if model is None or vector is None:
        return None
    return {"model": model, "dimensions": dimensions, "vector": base64.b64encode(vector).decode()}


# --- reading -------------------------------------------------------------------------------------------


class DumpError(BadRequestError):
    """A line of the dump cannot be imported; ``line`` is its 1-based number."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Embedding:
    model: str
    dimensions: int
    vector: bytes


class _Fields:
    """Typed access to the fields of one decoded line; every error names the field."""

    def __init__(self, record: JsonObject) -> None:
        self.record = record

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.record or self.record[name] is None:
            if required:
                raise BadRequestError(f"{name} is missing")
            return None
        return self.record[name]

    def text(self, name: str, *, required: bool = True, is_id: bool = False) -> Any:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise BadRequestError(f"{name} must be a string")
        return check_id(name, value) if is_id else check_text(name, value)

    def integer(self, name: str, *, minimum: int = 0) -> int:
        value = self._get(name, True)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise BadRequestError(f"{name} must be an integer >= {minimum}")
        if value >= 2**63:
            raise BadRequestError(f"{name} is out of range")
        return value

    def uuid(self, name: str) -> UUID:
        value = self.text(name)
        try:
            return UUID(value)
        except ValueError:
            raise BadRequestError(f"{name} is not a UUID: {value!r}") from None

    def time(self, name: str, *, required: bool = True) -> dt.datetime | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadRequestError(f"{name} is not an ISO 8601 time: {value!r}") from None
        if parsed.tzinfo is None:
            raise BadRequestError(f"{name} has no time zone: {value!r}")
        return parsed.astimezone(dt.UTC)

    def metadata(self) -> JsonObject | None:
        value = self._get("metadata", False)
        if value is not None and not isinstance(value, dict):
            raise BadRequestError("metadata must be an object or null")
        return check_json("metadata", value)  # type: ignore[no-any-return]

    def embedding(self) -> Embedding | None:
        value = self._get("embedding", False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise BadRequestError("embedding must be an object")
        inner = _Fields(value)
        model = inner.text("model")
        dimensions = inner.integer("dimensions", minimum=1)
        try:
            vector = base64.b64decode(inner.text("vector"), validate=True)
        except ValueError:
            raise BadRequestError("embedding.vector is not base64") from None
        if len(vector) != 4 * dimensions:
            raise BadRequestError(f"embedding.vector holds {len(vector)} bytes, not {dimensions} float32s")
        return Embedding(model, dimensions, vector)


@dataclass(frozen=True, slots=True)
class UserLine:
    user_id: str
    uuid: UUID
    email: str | None
    first_name: str | None
    last_name: str | None
    metadata: JsonObject | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class SessionLine:
    session_id: str
    uuid: UUID
    user_id: str | None
    metadata: JsonObject | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class MessageLine:
    session_id: str
    seq: int
    uuid: UUID
    role: str
    content: str
    metadata: JsonObject | None
    token_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    embedding: Embedding | None


@dataclass(frozen=True, slots=True)
class SummaryLine:
    session_id: str
    point_seq: int
    uuid: UUID
    recent_message_uuid: UUID
    content: str
    token_count: int
    metadata: JsonObject | None
    created_at: dt.datetime
    embedding: Embedding | None


@dataclass(frozen=True, slots=True)
class EndLine:
    counts: dict[str, int]


Line = UserLine | SessionLine | MessageLine | SummaryLine | EndLine


def _user(f: _Fields) -> UserLine:
    return UserLine(
        f.text("user_id", is_id=True),
        f.uuid("uuid"),
        f.text("email", required=False),
        f.text("first_name", required=False),
        f.text("last_name", required=False),
        f.metadata(),
        f.time("created_at"),  # type: ignore[arg-type]
        f.time("updated_at"),  # type: ignore[arg-type]
    )


def _session(f: _Fields) -> SessionLine:
    return SessionLine(
        f.text("session_id", is_id=True),
        f.uuid("uuid"),
        f.text("user_id", required=False, is_id=True),
        f.metadata(),
        f.time("created_at"),  # type: ignore[arg-type]
        f.time("updated_at"),  # type: ignore[arg-type]
        f.time("deleted_at", required=False),
    )


def _message(f: _Fields) -> MessageLine:
    return MessageLine(
        f.text("session_id", is_id=True),
        f.integer("seq", minimum=1),
        f.uuid("uuid"),
        f.text("role"),
        f.text("content"),
        f.metadata(),
        f.integer("token_count"),
        f.time("created_at"),  # type: ignore[arg-type]
        f.time("updated_at"),  # type: ignore[arg-type]
        f.embedding(),
    )


def _summary(f: _Fields) -> SummaryLine:
    return SummaryLine(
        f.text("session_id", is_id=True),
        f.integer("point_seq", minimum=1),
        f.uuid("uuid"),
        f.uuid("recent_message_uuid"),
        f.text("content"),
        f.integer("token_count"),
        f.metadata(),
        f.time("created_at"),  # type: ignore[arg-type]
        f.embedding(),
    )


def _end(f: _Fields) -> EndLine:
    counts = f.record.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
        raise BadRequestError("counts must be an object of integers")
    return EndLine(counts)


_READERS: dict[str, Callable[[_Fields], Line]] = {
    USER: _user,
    SESSION: _session,
    MESSAGE: _message,
    SUMMARY: _summary,
    END: _end,
}


def _decode(number: int, raw: bytes) -> JsonObject:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DumpError(number, f"not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DumpError(number, "not a JSON object")
    return record


def read_header(number: int, raw: bytes) -> JsonObject:
    record = _decode(number, raw)
    if record.get("type") != HEADER or record.get("format") != FORMAT:
        raise DumpError(number, f"not a {FORMAT} header line: is this a chatmem dump?")
    if record.get("version") != VERSION:
        raise DumpError(number, f"format version {record.get('version')!r}; this chatmem reads {VERSION}")
    return record


def _time_fast(value: Any) -> dt.datetime | None:
    if type(value) is not str:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _flat_json(value: JsonObject) -> bool:
    """True for an object of strings, booleans, nulls and small integers only: nothing in it that
    ``check_json`` could refuse once the line holds no NUL (the common metadata; anything else is
    walked by ``check_json``)."""
    for item in value.values():
        kind = type(item)
        if not (kind is str or kind is bool or item is None or (kind is int and -(2**62) < item < 2**62)):
            return False
    return True


def _message_fast(record: JsonObject, raw: bytes) -> MessageLine | None:
    """A message line as ``_message`` reads it, for the common case only (most of a dump's lines):
    None hands anything unusual to ``_message``, which names what is wrong. It accepts nothing that
    ``_message`` refuses: orjson.loads already refuses invalid UTF-8 and lone surrogates, and a NUL can
    only arrive escaped, as the six bytes ``\\u0000``."""
    if b"\\u0000" in raw or record.get("embedding") is not None:
        return None
    session_id, seq, token_count = record.get("session_id"), record.get("seq"), record.get("token_count")
    role, content, uuid, metadata = (
        record.get("role"),
        record.get("content"),
        record.get("uuid"),
        record.get("metadata"),
    )
    if not (
        type(session_id) is str
        and type(seq) is int
        and type(token_count) is int
        and type(role) is str
        and type(content) is str
        and type(uuid) is str
        and (metadata is None or type(metadata) is dict)
        and 1 <= seq < 2**63
        and 0 <= token_count < 2**63
        and session_id.strip()
        and len(session_id.encode()) <= MAX_ID_BYTES
    ):
        return None
    created, updated = _time_fast(record.get("created_at")), _time_fast(record.get("updated_at"))
    if created is None or updated is None:
        return None
    try:
        parsed = UUID(uuid)
        if metadata and not _flat_json(metadata):
            check_json("metadata", metadata)
    except (ValueError, BadRequestError):
        return None
    return MessageLine(session_id, seq, parsed, role, content, metadata, token_count, created, updated, None)


def read_line(number: int, raw: bytes) -> Line:
    record = _decode(number, raw)
    if record.get("type") == MESSAGE:
        fast = _message_fast(record, raw)
        if fast is not None:
            return fast
    reader = _READERS.get(record.get("type"))  # type: ignore[arg-type]
    if reader is None:
        raise DumpError(number, f"unknown line type {record.get('type')!r}")
    try:
        return reader(_Fields(record))
    except BadRequestError as exc:
        raise DumpError(number, exc.message) from None
