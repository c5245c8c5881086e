"""What the admin page (``chatmem.server.admin_ui``) reads beyond the API's plans: filtered keyset lists
of users and sessions (newest first, deleted sessions included when asked), a session's chat view with
its summaries where they were made, where a message sits in its session, and cheap table size estimates.

Every plan takes the caller's ``tenant_id`` first and every statement on users or sessions carries
``of_tenant``, as everywhere else; rows below a session are reached through its surrogate key.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from chatmem.base.errors import BadRequestError, NotFoundError
from chatmem.base.json import JsonObject
from chatmem.base.validation import check_id
from chatmem.store.live import DELETED_SESSION, LIVE_SESSION
from chatmem.store.prepared import Prepared, ReadPlan, statement
from chatmem.store.records import (
    MESSAGE_COLUMNS,
    SUMMARY_COLUMNS,
    USER_COLUMNS,
    MessageRecord,
    SummaryRecord,
    UserRecord,
)
from chatmem.store.tables import Uuid, messages, sessions, summaries, users
from chatmem.store.tenancy import of_tenant

MAX_PAGE = 500
# A filter's text is matched as a substring; it is short by nature.
MAX_FILTER = 200
# Tables smaller than this are counted exactly; larger ones are estimated (never a scan of a big table).
EXACT_COUNT_BELOW = 100_000


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequestError(f"limit must be between 1 and {MAX_PAGE}")


def _check_filter(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_FILTER or "\x00" in value:
        raise BadRequestError(f"{name} must be at most {MAX_FILTER} characters, without NUL")
    return value.strip()


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """A page newest first; ``next_before`` is the keyset position of the next (older) page."""

    items: list[T]
    next_before: int | None


# --- Users ---------------------------------------------------------------------------------------------

_user_filter = sa.bindparam("pattern", type_=sa.Text)
_users_newest = Prepared(
    sa.select(*USER_COLUMNS)
    .where(of_tenant(users), users.c.id < sa.bindparam("before"))
    .order_by(users.c.id.desc())
    .limit(sa.bindparam("limit"))
)
_users_matching = Prepared(
    sa.select(*USER_COLUMNS)
    .where(
        of_tenant(users),
        users.c.id < sa.bindparam("before"),
        sa.or_(
            *(
                sa.func.lower(column).like(_user_filter, escape="\\")
                for column in (users.c.user_id, users.c.email, users.c.first_name, users.c.last_name)
            ),
            users.c.user_id == sa.bindparam("exact"),
        ),
    )
    .order_by(users.c.id.desc())
    .limit(sa.bindparam("limit"))
)


def list_users_plan(
    tenant_id: int, *, before: int | None = None, limit: int = 50, text: str | None = None
) -> ReadPlan[Listing[UserRecord]]:
    """The tenant's users, newest first; ``text`` keeps those whose id, email or name contains it
    (case-insensitive). A filter walks the users newest first until a page is full."""
    _check_limit(limit)
    found = _check_filter("the filter", text)
    return _list_users(tenant_id, before, limit, found)


def _list_users(
    tenant_id: int, before: int | None, limit: int, text: str | None
) -> ReadPlan[Listing[UserRecord]]:
    params: dict[str, Any] = {"tenant_id": tenant_id, "before": before or 2**62, "limit": limit}
    if text is None:
        rows = yield statement(_users_newest, **params)
    else:
        rows = yield statement(
            _users_matching, pattern=f"%{_like_escaped(text.lower())}%", exact=text, **params
        )
    items = [UserRecord(*row) for row in rows]
    return Listing(items, items[-1].id if len(items) == limit else None)


# --- Sessions ------------------------------------------------------------------------------------------


class SessionState(enum.StrEnum):
    LIVE = "live"
    DELETED = "deleted"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session as the admin page shows it: deleted ones too, with their positions."""

    id: int
    session_id: str
    user_id: str | None
    metadata: JsonObject | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    message_count: int
    last_seq: int
    floor_seq: int
    purged_seq: int

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


_SESSION_ROW = tuple(sessions.c[name] for name in SessionRow.__dataclass_fields__)
_STATE_CONDITION = {SessionState.LIVE: LIVE_SESSION, SessionState.DELETED: DELETED_SESSION}


class PrefixMatch(enum.Enum):
    NONE = "none"
    # The ids between the prefix and its successor: an index range, exact where text sorts by code point
    # (SQLite's BINARY, PostgreSQL's C collations). RANGE walks the sessions newest first and keeps
    # those in the range (for a prefix many sessions share); FEW reads the range and sorts it (for one
    # that few share). A capped count of the range chooses.
    RANGE = "range"
    FEW = "few"
    # LIKE 'prefix%': exact under any collation, but a scan of the tenant's sessions newest first.
    LIKE = "like"


def _session_listing(state: SessionState, *, user: bool, prefix: PrefixMatch) -> Prepared[Any]:
    conditions: list[sa.ColumnElement[bool]] = [of_tenant(sessions), sessions.c.id < sa.bindparam("before")]
    if state in _STATE_CONDITION:
        conditions.append(_STATE_CONDITION[state])
    if user:
        conditions.append(sessions.c.user_id == sa.bindparam("user_id"))
    if prefix is PrefixMatch.LIKE:
        conditions.append(sessions.c.session_id.like(sa.bindparam("prefix", type_=sa.Text), escape="\\"))
    elif prefix in (PrefixMatch.RANGE, PrefixMatch.FEW):
        conditions.append(_IN_RANGE)
    # ``id + 0`` cannot be read from an index in order, so the planner reads the range and sorts it.
    order = (sessions.c.id + 0).desc() if prefix is PrefixMatch.FEW else sessions.c.id.desc()
    return Prepared(sa.select(*_SESSION_ROW).where(*conditions).order_by(order).limit(sa.bindparam("limit")))


_IN_RANGE = sa.and_(
    sessions.c.session_id >= sa.bindparam("low", type_=sa.Text),
    sessions.c.session_id < sa.bindparam("high", type_=sa.Text),
)
# A range holding fewer sessions than this is read whole and sorted; a larger one is walked newest first.
FEW_IN_RANGE = 2_000
_range_size = Prepared(
    sa.select(sa.func.count()).select_from(
        sa.select(sessions.c.id).where(of_tenant(sessions), _IN_RANGE).limit(FEW_IN_RANGE).subquery()
    )
)


_SESSION_LISTINGS = {
    (state, user, prefix): _session_listing(state, user=user, prefix=prefix)
    for state in SessionState
    for user in (False, True)
    for prefix in PrefixMatch
}


def successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``, in code point order (None: no
    such string, the prefix is all U+10FFFF)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if 0xD800 <= last <= 0xDFFF:  # surrogates are not text
            last = 0xE000
        if last <= 0x10FFFF:
            return "".join(chars) + chr(last)
    return None


_collation = Prepared(
    sa.select(sa.column("datcollate"))
    .select_from(sa.table("pg_database"))
    .where(sa.column("datname") == sa.func.current_database())
)
_CODE_POINT_COLLATIONS = frozenset({"c", "posix", "c.utf-8", "c.utf8"})


def code_point_order_plan(dialect_name: str) -> ReadPlan[bool]:
    """Whether session ids sort by code point here, so that an id prefix is an index range."""
    if dialect_name != "postgresql":
        return True  # SQLite compares text with memcmp (BINARY): UTF-8 byte order is code point order
    rows = yield statement(_collation)
    return bool(rows) and str(rows[0][0]).lower() in _CODE_POINT_COLLATIONS


def list_sessions_plan(
    tenant_id: int,
    *,
    before: int | None = None,
    limit: int = 50,
    id_prefix: str | None = None,
    user_id: str | None = None,
    state: SessionState = SessionState.LIVE,
    code_point_order: bool = False,
) -> ReadPlan[Listing[SessionRow]]:
    """The tenant's sessions newest first, live, deleted or both, optionally one user's and those whose
    id starts with ``id_prefix`` (case-sensitive; an index range when ``code_point_order``, which
    ``code_point_order_plan`` tells, else a scan)."""
    _check_limit(limit)
    prefix = _check_filter("the id prefix", id_prefix)
    user = _check_filter("the user id", user_id)
    return _list_sessions(tenant_id, before, limit, prefix, user, state, code_point_order)


def _list_sessions(
    tenant_id: int,
    before: int | None,
    limit: int,
    prefix: str | None,
    user: str | None,
    state: SessionState,
    code_point_order: bool,
) -> ReadPlan[Listing[SessionRow]]:
    params: dict[str, Any] = {"tenant_id": tenant_id, "before": before or 2**62, "limit": limit}
    match = PrefixMatch.NONE
    if user is not None:
        params["user_id"] = user
    if prefix is not None:
        high = successor(prefix)
        if code_point_order and high is not None:
            params.update(low=prefix, high=high)
            [(size,)] = yield statement(_range_size, tenant_id=tenant_id, low=prefix, high=high)
            match = PrefixMatch.FEW if size < FEW_IN_RANGE else PrefixMatch.RANGE
        else:
            match = PrefixMatch.LIKE
            params["prefix"] = _like_escaped(prefix) + "%"
    query = _SESSION_LISTINGS[(state, user is not None, match)]
    rows = yield statement(query, **params)
    items = [SessionRow(*row) for row in rows]
    return Listing(items, items[-1].id if len(items) == limit else None)


_any_session = Prepared(
    sa.select(*_SESSION_ROW).where(of_tenant(sessions), sessions.c.session_id == sa.bindparam("session_id"))
)


def get_session_row_plan(tenant_id: int, session_id: str) -> ReadPlan[SessionRow]:
    """The session whether live or deleted (the admin page shows a deleted session's state)."""
    check_id("session_id", session_id)
    return _get_session_row(tenant_id, session_id)


def _get_session_row(tenant_id: int, session_id: str) -> ReadPlan[SessionRow]:
    rows = yield statement(_any_session, tenant_id=tenant_id, session_id=session_id)
    if not rows:
        raise NotFoundError("session not found")
    return SessionRow(*rows[0])


# --- The chat view -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatMessage:
    seq: int
    message: MessageRecord


@dataclass(frozen=True, slots=True)
class ChatSummary:
    point_seq: int
    summary: SummaryRecord


@dataclass(frozen=True, slots=True)
class ChatPage:
    """Live messages of a session in order, oldest first, with the live summaries made at points inside
    the page; ``older`` / ``newer`` are the keyset positions of the neighbouring pages (None: none)."""

    session: SessionRow
    messages: list[ChatMessage]
    summaries: list[ChatSummary]
    older: int | None
    newer: int | None


_MESSAGE_AND_SEQ = (messages.c.seq, *MESSAGE_COLUMNS)
_forward = Prepared(
    sa.select(*_MESSAGE_AND_SEQ)
    .where(messages.c.session_pk == sa.bindparam("session_pk"), messages.c.seq > sa.bindparam("after"))
    .order_by(messages.c.seq)
    .limit(sa.bindparam("limit"))
)
_backward = Prepared(
    sa.select(*_MESSAGE_AND_SEQ)
    .where(
        messages.c.session_pk == sa.bindparam("session_pk"),
        messages.c.seq > sa.bindparam("floor"),
        messages.c.seq < sa.bindparam("before"),
    )
    .order_by(messages.c.seq.desc())
    .limit(sa.bindparam("limit"))
)
_summaries_between = Prepared(
    sa.select(summaries.c.point_seq, *SUMMARY_COLUMNS)
    .where(
        summaries.c.session_pk == sa.bindparam("session_pk"),
        summaries.c.point_seq >= sa.bindparam("low"),
        summaries.c.point_seq <= sa.bindparam("high"),
    )
    .order_by(summaries.c.point_seq)
)


def chat_page_plan(
    tenant_id: int,
    session_id: str,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> ReadPlan[ChatPage]:
    """A page of the chat view: the ``limit`` live messages after seq ``after`` (the first page when
    neither is given), or those just before seq ``before`` (``before`` 0: the newest page). A deleted
    session has no live messages; its row is still returned. O(limit) whatever the session's length."""
    check_id("session_id", session_id)
    _check_limit(limit)
    if after is not None and before is not None:
        raise BadRequestError("give either after or before, not both")
    if (after is not None and after < 0) or (before is not None and before < 0):
        raise BadRequestError("a position must not be negative")
    return _chat_page(tenant_id, session_id, after, before, limit)


def _chat_page(
    tenant_id: int, session_id: str, after: int | None, before: int | None, limit: int
) -> ReadPlan[ChatPage]:
    session = yield from _get_session_row(tenant_id, session_id)
    floor = session.floor_seq
    if before is not None:
        end = before if before > 0 else session.last_seq + 1
        rows = list(
            reversed(
                (yield statement(_backward, session_pk=session.id, floor=floor, before=end, limit=limit))
            )
        )
    else:
        rows = yield statement(_forward, session_pk=session.id, after=max(floor, after or 0), limit=limit)
    found = [ChatMessage(row[0], MessageRecord(*row[1:])) for row in rows]
    notes: list[ChatSummary] = []
    if found:
        # A summary made at point p folded the messages up to p: it is shown right after message p.
        found_rows = yield statement(
            _summaries_between, session_pk=session.id, low=max(found[0].seq, floor + 1), high=found[-1].seq
        )
        notes = [ChatSummary(row[0], SummaryRecord(*row[1:])) for row in found_rows]
    older = found[0].seq if found and found[0].seq > floor + 1 else None
    newer = found[-1].seq if found and found[-1].seq < session.last_seq else None
    return ChatPage(session, found, notes, older, newer)


_message_seq = Prepared(
    sa.select(messages.c.seq)
    .select_from(messages.join(sessions, messages.c.session_pk == sessions.c.id))
    .where(
        of_tenant(sessions),
        sessions.c.session_id == sa.bindparam("session_id"),
        messages.c.uuid == sa.bindparam("uuid", type_=Uuid),
        messages.c.seq > sessions.c.floor_seq,
    )
)


def message_seq_plan(tenant_id: int, session_id: str, message_uuid: uuid.UUID) -> ReadPlan[int]:
    """Where a live message sits in its session (to open the chat view at it)."""
    check_id("session_id", session_id)
    return _message_seq_of(tenant_id, session_id, message_uuid)


def _message_seq_of(tenant_id: int, session_id: str, message_uuid: uuid.UUID) -> ReadPlan[int]:
    rows = yield statement(_message_seq, tenant_id=tenant_id, session_id=session_id, uuid=message_uuid)
    if not rows:
        raise NotFoundError("message not found")
    return int(rows[0][0])


# --- Sizes ---------------------------------------------------------------------------------------------

COUNTED_TABLES = ("users", "sessions", "messages", "summaries")


@dataclass(frozen=True, slots=True)
class TableSize:
    table: str
    rows: int | None
    exact: bool


def _capped_count(table: sa.Table) -> Prepared[Any]:
    capped = sa.select(sa.literal_column("1")).select_from(table).limit(EXACT_COUNT_BELOW).subquery()
    return Prepared(sa.select(sa.func.count()).select_from(capped))


_CAPPED = {
    name: _capped_count(table)
    for name, table in zip(COUNTED_TABLES, (users, sessions, messages, summaries), strict=True)
}


def _one_of(column: sa.ColumnClause[Any]) -> sa.ColumnElement[bool]:
    """``column`` names one of the counted tables, as constants in the SQL (prepared statements do not
    expand a bound list)."""
    return sa.or_(*(column == sa.literal_column(f"'{name}'") for name in COUNTED_TABLES))


_pg_estimates: Prepared[Any] = Prepared(
    sa.select(sa.column("relname"), sa.column("reltuples"))  # type: ignore[arg-type]
    .select_from(sa.table("pg_class"))
    .where(
        _one_of(sa.column("relname")),
        sa.column("relkind", sa.Text) == "r",
        sa.text("pg_class.relnamespace = to_regnamespace(current_schema())::oid"),
    )
)
_sqlite_estimates: Prepared[Any] = Prepared(
    sa.select(sa.column("tbl", sa.Text), sa.column("stat", sa.Text))  # type: ignore[arg-type]
    .select_from(sa.table("sqlite_stat1"))
    .where(_one_of(sa.column("tbl")))
)
_sqlite_has_stats = Prepared(
    sa.select(sa.func.count())
    .select_from(sa.table("sqlite_master"))
    .where(sa.column("name", sa.Text) == "sqlite_stat1")
)
_max_ids = {
    "users": Prepared(sa.select(sa.func.max(users.c.id))),
    "sessions": Prepared(sa.select(sa.func.max(sessions.c.id))),
}


def table_sizes_plan(dialect_name: str) -> ReadPlan[list[TableSize]]:
    """Rows in the main tables of the whole database, cheaply: counted exactly below
    ``EXACT_COUNT_BELOW`` rows (a capped count reads at most that many), estimated above it
    (PostgreSQL's ``pg_class.reltuples``; SQLite's ``sqlite_stat1`` or the highest id)."""
    sizes: list[TableSize] = []
    estimates: dict[str, float] = {}
    if dialect_name == "postgresql":
        estimates = {str(name): float(value) for name, value in (yield statement(_pg_estimates))}
    elif (yield statement(_sqlite_has_stats))[0][0]:
        for name, stat in (yield statement(_sqlite_estimates)):
            first = str(stat).split(" ", 1)[0]
            if first.isdigit():
                estimates[str(name)] = float(first)
    for name in COUNTED_TABLES:
        estimate = estimates.get(name, -1.0)
        if estimate < 0 or estimate < EXACT_COUNT_BELOW * 2:
            counted = int((yield statement(_CAPPED[name]))[0][0])
            if counted < EXACT_COUNT_BELOW:
                sizes.append(TableSize(name, counted, True))
                continue
        if estimate < 0 and name in _max_ids:
            estimate = float((yield statement(_max_ids[name]))[0][0] or 0)
        sizes.append(TableSize(name, int(estimate) if estimate >= 0 else None, False))
    return sizes
