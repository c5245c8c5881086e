"""The database a run uses: a fresh SQLite file or a fresh PostgreSQL database, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database(kind: str, work_dir: Path, *, keep: bool = False) -> Iterator[str]:
    """A URL to an empty database of ``kind`` (``sqlite`` or ``postgres``)."""
    name = f"chatmem_bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        path = work_dir / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = sa.create_engine(
        sa.make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
