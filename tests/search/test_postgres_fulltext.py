"""PostgreSQL full text ranks from the stored ``search_tsv`` column through its GIN index (migration 0005)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from chatmem.search import fulltext
from chatmem.search.query import Scope
from chatmem.search.targets import TARGETS, Within, resolve
from chatmem.store.tables import DEFAULT_TENANT_ID
from tests.search.conftest import add, client, contents, search, search_server
from tests.support import backends


@pytest.mark.parametrize("backend", backends("postgres"))
def test_text_search_reads_the_stored_tsvector_through_its_gin_index(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, sid: str
) -> None:
    with search_server(request, backend, tmp_path) as server, client(server) as api:
        add(api, sid, ("human", "The quick brown foxes jumped"), ("ai", "over lazy dogs"))
        hits = search(api, f"/sessions/{sid}", text="fox jumping", search_type="text")
        assert contents(hits) == ["The quick brown foxes jumped"]  # stemmed, as to_tsvector('english')
        for scope_name in (Scope.MESSAGES, Scope.SUMMARY):
            target = TARGETS[scope_name]
            with server.db.read() as conn:
                scope = resolve(conn, Within(DEFAULT_TENANT_ID, session_id=sid))
                assert scope is not None
                query = fulltext.postgres_query(target, scope, ["fox"], [], 10)
                sql = str(query.compile(server.db.engine, compile_kwargs={"literal_binds": True}))
                plan = explain(conn, sql)
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                match = explain(
                    conn,
                    f"SELECT 1 FROM {target.table.name} WHERE search_tsv @@ to_tsquery('english', 'fox')",
                )
            assert "search_tsv" in plan and "to_tsvector" not in plan
            assert f"ix_{target.table.name}_fts_tsv" in match


def explain(conn: sa.Connection, sql: str) -> str:
    return "\n".join(row[0] for row in conn.execute(sa.text("EXPLAIN VERBOSE " + sql)))
