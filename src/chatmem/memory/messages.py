"""Messages: append (creating or reviving the session), the recent window, paging, metadata."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from chatmem.base import clock
from chatmem.base.errors import BadRequestError, NotFoundError
from chatmem.base.json import JsonObject, json_text
from chatmem.base.validation import check_id, check_json, check_text
from chatmem.memory.metadata import checked_patch, merge_patch
from chatmem.memory.paging import NO_LIMIT
from chatmem.memory.records import MemoryRecord, MessagePage, NewMessage
from chatmem.store.jobs import ingest_job, ingest_job_from
from chatmem.store.json_rows import JsonRows
from chatmem.store.live import LIVE_SESSION, above_floor, live
from chatmem.store.prepared import (
    Batchable,
    Prepared,
    ReadPlan,
    WritePlan,
    statement,
    statement_alone,
    statement_many,
    upsert,
)
from chatmem.store.records import MESSAGE_COLUMNS, SUMMARY_COLUMNS, MessageRecord, SummaryRecord
from chatmem.store.tables import Json, UTCDateTime, Uuid, messages, sessions, summaries
from chatmem.store.tenancy import TENANT, of_tenant

# Rows below a session carry its tenant, which leads their keys: every join and lookup names it.
_session_messages = messages.join(
    sessions, sa.and_(messages.c.tenant_id == sessions.c.tenant_id, messages.c.session_pk == sessions.c.id)
)


def _check_new(message: NewMessage) -> None:
    check_text("role", message.role)
    check_text("content", message.content)
    check_json("metadata", message.metadata)
    if message.token_count < 0:
        raise BadRequestError("token_count must not be negative")


def _build_upsert(dialect_name: str) -> sa.Insert:
    """Create or revive the session, bump ``updated_at`` and reserve ``count`` seq numbers."""
    count = sa.bindparam("count", type_=sa.BigInteger)
    ts = sa.bindparam("ts", type_=UTCDateTime)
    insert = upsert(dialect_name, sessions)
    return (
        insert.values(
            tenant_id=TENANT,
            session_id=sa.bindparam("session_id"),
            uuid=sa.bindparam("uuid", type_=Uuid),
            created_at=ts,
            updated_at=ts,
            last_seq=count,
            message_count=count,
        )
        .on_conflict_do_update(
            index_elements=[sessions.c.tenant_id, sessions.c.session_id],
            set_={
                "updated_at": ts,
                # Constants rendered into the SQL (sa.null, literal_column): a bound one is one more
                # parameter for the driver to send on every append.
                "deleted_at": sa.null(),
                "last_seq": sessions.c.last_seq + count,
                "message_count": sa.case(
                    (sessions.c.deleted_at.is_(None), sessions.c.message_count), else_=sa.literal_column("0")
                )
                + count,
            },
        )
        .returning(sessions.c.id, sessions.c.last_seq)
    )


_upsert_session = Prepared(_build_upsert)
_insert_message = Prepared(
    sa.insert(messages).values({c.name: sa.bindparam(c.name, type_=c.type) for c in messages.c})
)


# The columns the append's INSERT ... SELECT statements name, in the order of their SELECT lists.
_INSERTED_MESSAGE_COLUMNS = [
    "tenant_id",
    "session_pk",
    "seq",
    "uuid",
    "role",
    "content",
    "metadata",
    "token_count",
    "created_at",
    "updated_at",
]


def build_append_statement(*, enqueue: bool = True) -> sa.Insert:
    """PostgreSQL: the whole append (session upsert, messages, enrichment job) as one statement.

    Data-modifying CTEs: ``s`` upserts the session and returns its reserved seq block; ``m`` inserts
    the messages, read from one JSON array parameter (``jsonb_array_elements ... WITH ORDINALITY``
    numbers them) with server-generated uuids; the job is inserted from ``s``. One round trip and one
    implicit transaction instead of BEGIN, three statements and COMMIT, and the session's row lock is
    held for one statement only. One JSON text parameter instead of an array per column: psycopg
    inspects every list it dumps, which cost more CPU than the rest of the call (profiled).
    """
    count = sa.bindparam("count", type_=sa.BigInteger)
    ts = sa.bindparam("ts", type_=UTCDateTime)
    session = _build_upsert("postgresql").returning(sessions.c.tenant_id).cte("s")
    incoming = (
        sa.func.jsonb_array_elements(sa.cast(sa.bindparam("messages", type_=sa.Text), postgresql.JSONB))
        .table_valued(sa.column("value", postgresql.JSONB), with_ordinality="ord")
        .render_derived(name="incoming")
    )
    inserted = sa.insert(messages).from_select(
        _INSERTED_MESSAGE_COLUMNS,
        sa.select(
            session.c.tenant_id,
            session.c.id,
            session.c.last_seq - count + incoming.c.ord,
            sa.func.gen_random_uuid(),
            _field("role", sa.Text),
            _field("content", sa.Text),
            sa.literal_column("incoming.value -> 'metadata'", postgresql.JSONB),  # an absent key is NULL
            sa.cast(_field("token_count", sa.Text), sa.Integer),
            ts,
            ts,
        ).select_from(session.join(incoming, sa.true())),
    )
    if not enqueue:  # only bench/enrichment_bench.py measures the append without its job
        return inserted.add_cte(session)
    job = ingest_job_from(
        session.c.tenant_id,
        session.c.id,
        session.c.last_seq - count + sa.literal_column("1"),
        session.c.last_seq,
        ts,
    )
    return job.add_cte(inserted.cte("m"))


def _field(name: str, type_: Any) -> sa.ColumnElement[Any]:
    """``incoming.value ->> 'name'``: a key of the appended message, rendered into the SQL (not bound)."""
    return sa.literal_column(f"incoming.value ->> '{name}'", type_)


def append_json(new: Sequence[NewMessage]) -> str:
    """The ``messages`` parameter of ``append_statement``."""
    return json_text(
        [
            {"role": m.role, "content": m.content, "token_count": m.token_count}
            if m.metadata is None
            else {"role": m.role, "content": m.content, "token_count": m.token_count, "metadata": m.metadata}
            for m in new
        ]
    )


# Public: the benchmark's framework-free floor runs exactly this SQL (bench/rawsql.py).
append_statement = Prepared(build_append_statement())


def add_messages_plan(
    dialect_name: str, tenant_id: int, session_id: str, new: Sequence[NewMessage]
) -> WritePlan[None]:
    """Append ``new`` to the session, creating it if unknown and reviving it if soft-deleted.

    The session row is upserted first: that single statement creates/revives the session, bumps
    ``updated_at`` and reserves a contiguous block of ``seq`` numbers. Its row lock serializes
    concurrent appends to one session, so ``seq`` order is commit order. A message whose client-given
    ``uuid`` is already stored in the session is skipped, which makes client retries safe.
    Bad input is refused here, before any transaction starts. On PostgreSQL an append without client
    uuids is one statement (``build_append_statement``).
    """
    check_id("session_id", session_id)
    for message in new:
        _check_new(message)
    if dialect_name == "postgresql" and new and all(message.uuid is None for message in new):
        return _append_in_one_statement(tenant_id, session_id, new)
    return _append(tenant_id, session_id, new)


def add_messages_work(
    dialect_name: str, tenant_id: int, session_id: str, new: Sequence[NewMessage]
) -> WritePlan[None] | Batchable[Append]:
    """``add_messages_plan``, or for an append without client uuids, the same append as a ``Batchable``:
    the group-commit writer makes the appends that arrive together with one upsert of their sessions,
    one insert of their messages and one of their jobs (``_appends_together``). Bad input is refused
    here."""
    plan = add_messages_plan(dialect_name, tenant_id, session_id, new)
    if not new or any(message.uuid is not None for message in new):
        return plan
    plan.close()  # never started: the batchable form replaces it
    alone = _append_alone_in_one_statement if dialect_name == "postgresql" else _append_alone
    return Batchable(Append(tenant_id, session_id, new), alone, _appends_together)


@dataclass(frozen=True, slots=True)
class Append:
    tenant_id: int
    session_id: str
    new: Sequence[NewMessage]


def _append_alone(append: Append) -> WritePlan[None]:
    return _append(append.tenant_id, append.session_id, append.new)


def _append_alone_in_one_statement(append: Append) -> WritePlan[None]:
    return _append_in_one_statement(append.tenant_id, append.session_id, append.new)


# The group's statements (``_appends_together``). The sessions parameter holds one JSON array per
# session, ``[tenant_id, session_id, new session uuid, message count, job id]``; the messages parameter
# one per message, ``[tenant_id, session_id, seq before the end of the block, uuid, role, content,
# metadata as JSON text or null, token_count]``.
def _build_upsert_sessions(dialect_name: str) -> sa.Insert:
    """``_build_upsert`` for many sessions at once: ``excluded`` holds each row's count."""
    incoming = JsonRows(dialect_name, "sessions", "incoming")
    ts = sa.bindparam("ts", type_=UTCDateTime)
    count = incoming.item(3, sa.BigInteger)
    insert = upsert(dialect_name, sessions).from_select(
        ["tenant_id", "session_id", "uuid", "created_at", "updated_at", "last_seq", "message_count"],
        sa.select(
            incoming.item(0, sa.BigInteger),
            incoming.item(1, sa.Text),
            incoming.item(2, Uuid),
            ts,
            ts,
            count,
            count,
        )
        .select_from(incoming.table)
        # SQLite: without a WHERE, "ON CONFLICT" would parse as the ON of a join.
        .where(sa.true()),
    )
    return insert.on_conflict_do_update(
        index_elements=[sessions.c.tenant_id, sessions.c.session_id],
        set_={
            "updated_at": insert.excluded.updated_at,
            "deleted_at": sa.null(),
            "last_seq": sessions.c.last_seq + insert.excluded.last_seq,
            "message_count": sa.case(
                (sessions.c.deleted_at.is_(None), sessions.c.message_count), else_=sa.literal_column("0")
            )
            + insert.excluded.message_count,
        },
    )


def _session_of(incoming: JsonRows) -> sa.ColumnElement[bool]:
    return sa.and_(
        sessions.c.tenant_id == incoming.item(0, sa.BigInteger),
        sessions.c.session_id == incoming.item(1, sa.Text),
    )


def _build_insert_messages(dialect_name: str) -> sa.Insert:
    incoming = JsonRows(dialect_name, "messages", "incoming")
    ts = sa.bindparam("ts", type_=UTCDateTime)
    return sa.insert(messages).from_select(
        _INSERTED_MESSAGE_COLUMNS,
        sa.select(
            sessions.c.tenant_id,
            sessions.c.id,
            sessions.c.last_seq - incoming.item(2, sa.BigInteger),
            incoming.item(3, Uuid),
            incoming.item(4, sa.Text),
            incoming.item(5, sa.Text),
            incoming.item(6, Json),
            incoming.item(7, sa.Integer),
            ts,
            ts,
        ).select_from(incoming.table.join(sessions, _session_of(incoming))),
    )


def _build_insert_jobs(dialect_name: str) -> sa.Insert:
    incoming = JsonRows(dialect_name, "sessions", "incoming")
    return ingest_job_from(
        sessions.c.tenant_id,
        sessions.c.id,
        sessions.c.last_seq - incoming.item(3, sa.BigInteger) + sa.literal_column("1"),
        sessions.c.last_seq,
        sa.bindparam("ts", type_=UTCDateTime),
        job_id=incoming.item(4, Uuid),
        source=incoming.table.join(sessions, _session_of(incoming)),
    )


_upsert_sessions = Prepared(_build_upsert_sessions)
_insert_messages = Prepared(_build_insert_messages)
_insert_jobs = Prepared(_build_insert_jobs)


# A group's JSON parameters are cut into parts of whole sessions holding about this many characters of
# text: PostgreSQL refuses a jsonb value over 256 MB (and 64 appends of 5 MB bodies would be more), and
# JSON's escapes make a character at most six bytes.
PART_CHARS = 32 * 1024 * 1024


def _appends_together(appends: Sequence[Append]) -> WritePlan[None]:
    """Several appends (none with client uuids) in three statements, with the effect of their single
    plans run one after the other: one upsert of their sessions, each reserving the ``seq`` block of all
    its messages of the group; one insert of the messages, numbered from the end of their session's
    block in the order they came; one ingest job per session. Each statement reads its rows from one
    JSON array parameter (``JsonRows``), so the group is three executions however many appends it holds
    (three per part of ``PART_CHARS``, for groups of large messages).

    The sessions are upserted in (tenant, session id) order, across parts too: on PostgreSQL each upsert
    locks its session row until the commit, and two batches of two server processes that took the same
    sessions in different orders could deadlock."""
    new_by_session: dict[tuple[int, str], list[NewMessage]] = {}
    for append in appends:
        new_by_session.setdefault((append.tenant_id, append.session_id), []).extend(append.new)
    ts = clock.now()
    sessions_json: list[tuple[int, str, str, int, str]] = []
    messages_json: list[tuple[int, str, int, str, str, str, str | None, int]] = []
    chars = 0
    for (tenant_id, session_id), new in sorted(new_by_session.items()):
        count = len(new)
        sessions_json.append((tenant_id, session_id, uuid.uuid4().hex, count, uuid.uuid4().hex))
        for index, message in enumerate(new):
            metadata = None if message.metadata is None else json_text(message.metadata)
            messages_json.append(
                (
                    tenant_id,
                    session_id,
                    count - 1 - index,  # how far before the end of the session's block
                    uuid.uuid4().hex,
                    message.role,
                    message.content,
                    metadata,
                    message.token_count,
                )
            )
            chars += len(session_id) + len(message.role) + len(message.content) + len(metadata or "")
        if chars >= PART_CHARS:
            yield from _write_part(sessions_json, messages_json, ts)
            sessions_json, messages_json, chars = [], [], 0
    if messages_json:
        yield from _write_part(sessions_json, messages_json, ts)


def _write_part(sessions_json: list[Any], messages_json: list[Any], ts: dt.datetime) -> WritePlan[None]:
    sessions_param = json_text(sessions_json)
    yield statement(_upsert_sessions, sessions=sessions_param, ts=ts)
    yield statement(_insert_messages, messages=json_text(messages_json), ts=ts)
    yield statement(_insert_jobs, sessions=sessions_param, ts=ts)


def _reserve(tenant_id: int, session_id: str, count: int, ts: dt.datetime) -> WritePlan[tuple[int, int]]:
    """Upsert the session (creating or reviving it) and reserve ``count`` seq numbers: its pk and the
    last number reserved."""
    [(session_pk, last_seq)] = yield statement(
        _upsert_session, tenant_id=tenant_id, session_id=session_id, uuid=uuid.uuid4(), ts=ts, count=count
    )
    return session_pk, last_seq


def _message_rows(
    tenant_id: int, session_pk: int, first_seq: int, new: Sequence[NewMessage], ts: dt.datetime
) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "session_pk": session_pk,
            "seq": first_seq + index,
            "uuid": message.uuid or uuid.uuid4(),
            "role": message.role,
            "content": message.content,
            "metadata": message.metadata,
            "token_count": message.token_count,
            "created_at": ts,
            "updated_at": ts,
        }
        for index, message in enumerate(new)
    ]


def _append_in_one_statement(tenant_id: int, session_id: str, new: Sequence[NewMessage]) -> WritePlan[None]:
    yield statement_alone(
        append_statement,
        tenant_id=tenant_id,
        session_id=session_id,
        uuid=uuid.uuid4(),
        ts=clock.now(),
        count=len(new),
        job_id=uuid.uuid4(),
        messages=append_json(new),
    )


def _append(tenant_id: int, session_id: str, new: Sequence[NewMessage]) -> WritePlan[None]:
    count = len(new)
    ts = clock.now()
    session_pk, last_seq = yield from _reserve(tenant_id, session_id, count, ts)
    rows = _message_rows(tenant_id, session_pk, last_seq - count + 1, new, ts)
    if any(message.uuid is not None for message in new):
        rows = yield from _without_stored(tenant_id, session_pk, rows)
        if len(rows) < count:
            yield statement(_uncount, session_pk=session_pk, skipped=count - len(rows))
    if rows:
        yield statement_many(_insert_message, rows)
        # Background enrichment is queued in this same transaction, so no stored message is missed.
        yield ingest_job(tenant_id, session_pk, rows[0]["seq"], rows[-1]["seq"], ts)


_stored_uuid = Prepared(
    sa.select(messages.c.seq).where(
        messages.c.tenant_id == TENANT,
        messages.c.session_pk == sa.bindparam("session_pk"),
        messages.c.uuid == sa.bindparam("uuid", type_=Uuid),
    )
)
_uncount = Prepared(
    sa.update(sessions)
    .where(sessions.c.id == sa.bindparam("session_pk"))
    .values(message_count=sessions.c.message_count - sa.bindparam("skipped", type_=sa.BigInteger))
)


def _without_stored(
    tenant_id: int, session_pk: int, rows: list[dict[str, Any]]
) -> WritePlan[list[dict[str, Any]]]:
    """Drop rows whose uuid the session already holds (or that repeat earlier in the batch).

    One indexed lookup per message: only client retries send uuids, and their batches are small.
    """
    kept: list[dict[str, Any]] = []
    seen: set[uuid.UUID] = set()
    for row in rows:
        if row["uuid"] in seen or (
            yield statement(_stored_uuid, tenant_id=tenant_id, session_pk=session_pk, uuid=row["uuid"])
        ):
            continue
        seen.add(row["uuid"])
        kept.append(row)
    return kept


_summarized = sa.alias(summaries, "newer")
_SESSION_AND_SUMMARY_COLUMNS = (
    sessions.c.id,
    sessions.c.floor_seq,
    summaries.c.point_seq,
    *SUMMARY_COLUMNS,
)
# The live session and its newest live summary (NULLs when it has none).
_with_newest_summary = sessions.outerjoin(
    summaries,
    sa.and_(
        summaries.c.tenant_id == sessions.c.tenant_id,
        summaries.c.session_pk == sessions.c.id,
        summaries.c.point_seq
        == sa.select(sa.func.max(_summarized.c.point_seq))
        .where(
            _summarized.c.tenant_id == sessions.c.tenant_id,
            _summarized.c.session_pk == sessions.c.id,
            above_floor(_summarized.c.point_seq),
        )
        .scalar_subquery(),
    ),
)
_live_by_id = sa.and_(of_tenant(sessions), sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION)
_session_and_summary = Prepared(
    sa.select(*_SESSION_AND_SUMMARY_COLUMNS).select_from(_with_newest_summary).where(_live_by_id)
)
_newest_after = Prepared(
    sa.select(*MESSAGE_COLUMNS)
    .where(
        messages.c.tenant_id == TENANT,
        messages.c.session_pk == sa.bindparam("session_pk"),
        messages.c.seq > sa.bindparam("after"),
    )
    .order_by(messages.c.seq.desc())
    .limit(sa.bindparam("limit"))
)


def _build_recent_statement() -> sa.Select[Any]:
    """PostgreSQL: both statements of GET memory in one, the messages as a LATERAL subquery.

    One row per message, newest first, each carrying the session and summary columns; a single row
    with NULL message columns when there are none; no row for an unknown or deleted session.
    """
    after = sa.case(
        (sa.bindparam("whatever_the_summary", type_=sa.Boolean), sessions.c.floor_seq),
        else_=sa.func.greatest(sessions.c.floor_seq, sa.func.coalesce(summaries.c.point_seq, 0)),
    )
    newest = (
        sa.select(*MESSAGE_COLUMNS)
        .where(
            messages.c.tenant_id == sessions.c.tenant_id,
            messages.c.session_pk == sessions.c.id,
            messages.c.seq > after,
        )
        .order_by(messages.c.seq.desc())
        .limit(sa.bindparam("limit"))
        .lateral("newest")
    )
    return (
        sa.select(*_SESSION_AND_SUMMARY_COLUMNS, *newest.c)
        .select_from(_with_newest_summary.outerjoin(newest, sa.true()))
        .where(_live_by_id)
    )


# Public: the benchmark's framework-free floor runs exactly this SQL (bench/rawsql.py).
recent_statement = Prepared(_build_recent_statement())


def recent_messages_plan(
    dialect_name: str, tenant_id: int, session_id: str, *, window: int, lastn: int | None = None
) -> ReadPlan[MemoryRecord]:
    """GET memory: the latest live summary and the messages after its point, the newest ``window`` of
    them, oldest first (Zep 0.27.2's rule). ``lastn`` instead takes the newest ``lastn`` messages
    whatever the summary point; the summary is returned either way. An unknown or deleted session has
    neither (``MemoryRecord([])``). Two indexed statements (one on PostgreSQL), O(window) whatever the
    session's length.
    """
    if window <= 0 or (lastn is not None and lastn <= 0):
        raise BadRequestError("the number of messages must be positive")
    if dialect_name == "postgresql":
        return _recent_in_one_statement(tenant_id, session_id, window=window, lastn=lastn)
    return _recent(tenant_id, session_id, window=window, lastn=lastn)


def _recent(tenant_id: int, session_id: str, *, window: int, lastn: int | None) -> ReadPlan[MemoryRecord]:
    found = yield statement(_session_and_summary, tenant_id=tenant_id, session_id=session_id)
    if not found:
        return MemoryRecord(messages=[])
    session_pk, floor_seq, point_seq, *summary_fields = found[0]
    summary = SummaryRecord(*summary_fields) if point_seq is not None else None
    after = floor_seq if lastn is not None or point_seq is None else max(floor_seq, point_seq)
    rows = yield statement(
        _newest_after, tenant_id=tenant_id, session_pk=session_pk, after=after, limit=lastn or window
    )
    return MemoryRecord(messages=[MessageRecord(*row) for row in reversed(rows)], summary=summary)


def _recent_in_one_statement(
    tenant_id: int, session_id: str, *, window: int, lastn: int | None
) -> ReadPlan[MemoryRecord]:
    rows = yield statement(
        recent_statement,
        tenant_id=tenant_id,
        session_id=session_id,
        whatever_the_summary=lastn is not None,
        limit=lastn or window,
    )
    if not rows:
        return MemoryRecord(messages=[])
    width = len(_SESSION_AND_SUMMARY_COLUMNS)
    _pk, _floor, point_seq, *summary_fields = rows[0][:width]
    summary = SummaryRecord(*summary_fields) if point_seq is not None else None
    # A session without messages in range still has its one row, with NULL message columns (the uuid
    # column is NOT NULL in the table).
    found = [MessageRecord(*row[width:]) for row in reversed(rows) if row[width] is not None]
    return MemoryRecord(messages=found, summary=summary)


_live_session_counts = Prepared(
    sa.select(sessions.c.id, sessions.c.floor_seq, sessions.c.message_count).where(
        of_tenant(sessions), sessions.c.session_id == sa.bindparam("session_id"), LIVE_SESSION
    )
)
_oldest_after = Prepared(
    sa.select(*MESSAGE_COLUMNS)
    .where(
        messages.c.tenant_id == TENANT,
        messages.c.session_pk == sa.bindparam("session_pk"),
        messages.c.seq > sa.bindparam("after"),
    )
    .order_by(messages.c.seq)
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
)


def list_messages_plan(
    tenant_id: int, session_id: str, *, limit: int | None, page: int
) -> ReadPlan[MessagePage]:
    """A page of the session's live messages, oldest first; ``page`` is 1-based (Zep's cursor)."""
    if page < 1:
        raise BadRequestError("cursor (the page number) must be 1 or more")
    found = yield statement(_live_session_counts, tenant_id=tenant_id, session_id=session_id)
    if not found:
        return MessagePage(messages=[], total_count=0)
    session_pk, floor_seq, total = found[0]
    rows = yield statement(
        _oldest_after,
        tenant_id=tenant_id,
        session_pk=session_pk,
        after=floor_seq,
        limit=limit or NO_LIMIT,
        offset=(page - 1) * limit if limit else 0,
    )
    return MessagePage(messages=[MessageRecord(*row) for row in rows], total_count=total)


_this_message = sa.and_(
    of_tenant(sessions),
    sessions.c.session_id == sa.bindparam("session_id"),
    messages.c.uuid == sa.bindparam("uuid", type_=Uuid),
    live(messages.c.seq),
)
_get_message = Prepared(sa.select(*MESSAGE_COLUMNS).select_from(_session_messages).where(_this_message))


def get_message_plan(tenant_id: int, session_id: str, message_uuid: uuid.UUID) -> ReadPlan[MessageRecord]:
    rows = yield statement(_get_message, tenant_id=tenant_id, session_id=session_id, uuid=message_uuid)
    if not rows:
        raise NotFoundError("message not found")
    return MessageRecord(*rows[0])


_lock_message = Prepared(
    sa.select(messages.c.session_pk, messages.c.seq, messages.c.metadata)
    .select_from(_session_messages)
    .where(_this_message)
    .with_for_update(of=messages)
)
_set_message_metadata = Prepared(
    sa.update(messages)
    .where(
        messages.c.tenant_id == TENANT,
        messages.c.session_pk == sa.bindparam("session_pk"),
        messages.c.seq == sa.bindparam("seq"),
    )
    .values(
        updated_at=sa.bindparam("ts", type_=UTCDateTime),
        metadata=sa.bindparam("metadata", type_=messages.c.metadata.type),
    )
    .returning(*MESSAGE_COLUMNS)
)


def update_message_metadata_plan(
    tenant_id: int, session_id: str, message_uuid: uuid.UUID, metadata: JsonObject | None
) -> WritePlan[MessageRecord]:
    """Merge ``metadata`` into one message's; nothing else about the message changes."""
    return _update_metadata(tenant_id, session_id, message_uuid, checked_patch(metadata, privileged=False))


def _update_metadata(
    tenant_id: int, session_id: str, message_uuid: uuid.UUID, patch: JsonObject | None
) -> WritePlan[MessageRecord]:
    locked = yield statement(_lock_message, tenant_id=tenant_id, session_id=session_id, uuid=message_uuid)
    if not locked:
        raise NotFoundError("message not found")
    [(session_pk, seq, stored)] = locked
    metadata = merge_patch(stored or {}, patch) if patch else stored
    [row] = yield statement(
        _set_message_metadata,
        tenant_id=tenant_id,
        session_pk=session_pk,
        seq=seq,
        ts=clock.now(),
        metadata=metadata,
    )
    return MessageRecord(*row)
