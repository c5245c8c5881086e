"""A PostgreSQL connection that dies (server restart, failover) costs at most a retryable 503."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.support import PG_ADMIN_URL, live_server, needs_postgres


def kill_connections(database: str) -> int:
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            return len(
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                ).all()
            )
    finally:
        admin.dispose()


@needs_postgres
def test_the_server_recovers_after_its_database_connections_are_killed(tmp_path: Path) -> None:
    with live_server("postgres", tmp_path) as server, server.client("/api/v1") as api:
        for round_ in range(3):
            assert (
                api.post("/sessions/s/memory", json={"messages": [{"role": "h", "content": "x"}]}).text
                == "OK"
            )
            assert api.get("/sessions/s").status_code == 200
            assert kill_connections(sa.make_url(server.settings.database_url).database or "") > 0, round_
            # Each pooled connection may fail once, with a 503 the client can retry; never a 500.
            statuses = set()
            for _ in range(2 * server.settings.db_pool_size + 2):
                statuses.add(
                    api.post(
                        "/sessions/s/memory", json={"messages": [{"role": "h", "content": "y"}]}
                    ).status_code
                )
                statuses.add(api.get("/sessions/s").status_code)
            assert statuses <= {200, 503}
            assert (
                api.post("/sessions/s/memory", json={"messages": [{"role": "h", "content": "z"}]}).text
                == "OK"
            )
            assert api.get("/sessions/s").status_code == 200
            assert api.get("/sessions/s/memory?lastn=1").json()["messages"][0]["content"] == "z"
