"""The admin page's own plans (chatmem.memory.browse) on SQLite and PostgreSQL: filters, paging newest
first, the chat view's pages with summaries, and the id prefix as an index range or a LIKE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatmem.memory import browse, sessions
from chatmem.memory.browse import SessionState, successor
from chatmem.store import Database
from chatmem.store.tables import DEFAULT_TENANT_ID as T
from tests.support import migrated

IDS = [
    "abc",
    "abd",
    "ab",
    "a%c",
    "a_c",
    "ABC",
    "abc/def",
    "é-1",
    "é-2",
    "zzz",
    "ab\U0010ffff",
    "ab\U0010ffffx",
]


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Iterator[Database]:
    with migrated(backend, tmp_path) as database:
        for session_id in IDS:
            database.write_plan(sessions.create_session_plan(T, session_id))
        yield database


def _ids(db: Database, prefix: str, *, code_point_order: bool, limit: int = 50) -> list[str]:
    listing = db.read_plan(
        browse.list_sessions_plan(T, id_prefix=prefix, limit=limit, code_point_order=code_point_order)
    )
    return [row.session_id for row in listing.items]


@pytest.mark.parametrize(
    ("code_point_order", "few"), [(True, 2_000), (True, 1), (False, 2_000)], ids=["few", "range", "like"]
)
def test_an_id_prefix_keeps_exactly_the_ids_that_start_with_it_newest_first(
    db: Database, code_point_order: bool, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Below the threshold the range is read and sorted, above it the sessions are walked newest first.
    monkeypatch.setattr(browse, "FEW_IN_RANGE", few)
    for prefix in ("ab", "a%", "a_", "abc", "é", "ab\U0010ffff", "q", "A"):
        expected = [i for i in reversed(IDS) if i.startswith(prefix)]
        found = _ids(db, prefix, code_point_order=code_point_order)
        if not code_point_order and db.is_sqlite:
            # SQLite's LIKE ignores ASCII case; the range (what the page uses there) does not.
            expected = [i for i in reversed(IDS) if i.lower().startswith(prefix.lower())]
        assert found == expected, prefix


def test_the_database_tells_whether_ids_sort_by_code_point(db: Database) -> None:
    ordered = db.read_plan(browse.code_point_order_plan(db.dialect_name))
    assert ordered is True  # SQLite always; the test PostgreSQL runs with C.UTF-8


def test_successor_is_the_least_string_above_the_prefix() -> None:
    assert successor("ab") == "ac"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
    assert successor("a\ud7ff") == "a\ue000"


def test_lists_page_newest_first_and_filter_by_state(db: Database) -> None:
    db.write_plan(sessions.delete_session_plan(T, "zzz"))
    seen: list[str] = []
    before = None
    while True:
        page = db.read_plan(browse.list_sessions_plan(T, before=before, limit=5, state=SessionState.ALL))
        seen += [row.session_id for row in page.items]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == list(reversed(IDS))
    deleted = db.read_plan(browse.list_sessions_plan(T, state=SessionState.DELETED))
    assert [(row.session_id, row.deleted) for row in deleted.items] == [("zzz", True)]
    live = db.read_plan(browse.list_sessions_plan(T))
    assert "zzz" not in [row.session_id for row in live.items]
    assert db.read_plan(browse.list_sessions_plan(T + 999, state=SessionState.ALL)).items == []
