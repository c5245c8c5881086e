"""Every row belongs to a tenant: each table of the schema declares ``tenant_id`` (a table added without
it fails here), it leads the keys of the rows below a session, and every write path (appends, the
enrichment jobs and what they write, an import) stores the tenant of the row's session, on SQLite,
PostgreSQL and PostgreSQL with pgvector's copies of the vectors."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from chatmem.access import keys
from chatmem.access.roles import Role
from chatmem.access.tenants import create_tenant, get_tenant
from chatmem.enrich.worker import Worker
from chatmem.portability.export import Selection, export_lines
from chatmem.portability.importer import import_lines
from chatmem.store import Database
from chatmem.store.tables import SEARCH_TABLE_PREFIXES, metadata_obj, sessions
from tests.search.conftest import EMBEDDING, Server

# Tables that no tenant owns: the tenants themselves and the one counter of revocations.
NOT_TENANT_OWNED = frozenset({"tenants", "auth_revision"})
# Indexes that cannot lead with the tenant, and why.
GLOBAL_INDEXES = {"ix_enrich_jobs_due": "a worker claims the oldest due job of any tenant"}


def below_a_session() -> list[sa.Table]:
    return [table for table in metadata_obj.sorted_tables if "session_pk" in table.c]


def test_every_table_but_tenants_has_a_tenant_and_it_leads_the_keys_below_a_session() -> None:
    for table in metadata_obj.sorted_tables:
        if table.name in NOT_TENANT_OWNED:
            continue
        assert "tenant_id" in table.c, f"{table.name} has no tenant_id"
        assert not table.c.tenant_id.nullable, f"{table.name}.tenant_id may be NULL"
    owned = below_a_session()
    assert {t.name for t in owned} >= {
        "messages",
        "summaries",
        "message_embeddings",
        "summary_embeddings",
        "enrich_jobs",
    }
    for table in owned:
        assert [c.name for c in table.primary_key.columns][:2] == ["tenant_id", "session_pk"], table.name
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                assert next(iter(constraint.columns)).name == "tenant_id", (table.name, constraint.name)
        for index in table.indexes:
            if index.name not in GLOBAL_INDEXES:
                assert next(iter(index.columns)).name == "tenant_id", (table.name, index.name)
        # The session is named with its tenant, so a row cannot carry another tenant than its session's.
        [session_key] = [fk for fk in table.foreign_key_constraints if fk.referred_table is sessions]
        assert [c.name for c in session_key.columns] == ["tenant_id", "session_pk"], table.name
        assert [e.column.name for e in session_key.elements] == ["tenant_id", "id"], table.name


def rows_by_tenant(db: Database) -> dict[str, tuple[int, int, set[int]]]:
    """Per table below a session (pgvector's copies included when they exist): its row count, how many
    carry a tenant other than their session's, and the tenants seen."""
    found = {}
    with db.read() as conn:
        names = [t.name for t in below_a_session()]
        names += [n for n in sa.inspect(conn).get_table_names() if n.startswith(SEARCH_TABLE_PREFIXES)]
        for name in names:
            if name.endswith(("_fts", "_config", "_data", "_docsize", "_idx", "_content")):
                continue  # SQLite's FTS5 tables: their rowid is session_pk << 32 | seq, one session's
            total, wrong = conn.exec_driver_sql(
                f"SELECT count(*), count(*) FILTER (WHERE t.tenant_id <> s.tenant_id) FROM {name} AS t "
                "JOIN sessions AS s ON s.id = t.session_pk"
            ).one()
            tenants = {row[0] for row in conn.exec_driver_sql(f"SELECT DISTINCT tenant_id FROM {name}")}
            found[name] = (total, wrong, tenants)
    return found


def post(api: httpx.Client, sid: str, *contents: str) -> None:
    body = {"messages": [{"role": "human", "content": c} for c in contents]}
    assert api.post(f"/sessions/{sid}/memory", json=body).status_code == 200


def test_every_row_below_a_session_carries_its_sessions_tenant(backend: str, fresh_server: Server) -> None:
    settings = {
        **EMBEDDING,
        "enrich_workers": 0,
        "summarizer": "extractive",
        "message_window": 2,
        "auth": "on",
    }
    with fresh_server(**settings) as server:
        worker = Worker(server.db, server.settings)
        tenants = ("acme", "globex")
        apis = [
            httpx.Client(
                base_url=f"{server.url}/api/v1",
                headers={"Authorization": f"Bearer {keys.create_key(server.db, tenant, Role.WRITER).key}"},
                timeout=30,
            )
            for tenant in tenants
        ]
        for api in apis:
            post(api, "shared", "one", "two", "three", "four")  # the same session id: two sessions
        while worker.run_once():
            pass
        for api in apis:
            post(api, "shared", "five")  # its ingest job stays queued
            api.close()
        # An import writes messages, summaries and vectors itself.
        acme = get_tenant(server.db, "acme").id
        dump = list(export_lines(server.db, acme, "acme", Selection(with_embeddings=True)))
        imported = import_lines(server.db, create_tenant(server.db, "initech").id, dump)
        assert imported.messages == 5 and imported.summaries >= 1 and imported.embeddings >= 1
        found = rows_by_tenant(server.db)
        ids = {get_tenant(server.db, name).id for name in (*tenants, "initech")}
    if backend == "pgvector":
        assert {"message_vectors", "summary_vectors"} <= found.keys()
    for name, (total, wrong, seen) in found.items():
        assert total > 0, f"no rows in {name}: the test wrote none"
        assert wrong == 0, f"{wrong} rows of {name} carry another tenant than their session's"
        assert len(seen & ids) >= 2, f"{name} holds rows of {seen}, not of several tenants"
