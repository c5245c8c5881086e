"""Applying the Alembic migrations, by ``chatmem migrate`` and at server start."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from chatmem.store.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every chatmem process.
_PG_MIGRATION_LOCK = 0x63686174_6D656D


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call from several processes at once."""
    config = alembic_config()
    # One transaction: on SQLite it holds the write lock (BEGIN IMMEDIATE), on PostgreSQL an
    # advisory lock, so concurrent starters apply each migration exactly once.
    with db.engine.connect() as conn:
        if db.is_sqlite:
            # A migration that rebuilds a table (0006) drops the old one, which with foreign keys on
            # deletes every row that references it. SQLite only honours this pragma outside a
            # transaction, hence on the raw connection before SQLAlchemy begins one.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if not db.is_sqlite:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if db.is_sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows whose foreign keys point nowhere")
        finally:
            if db.is_sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


@functools.cache
def head_revision() -> str | None:
    """The newest migration this chatmem has."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every migration this chatmem has."""
    from alembic.script import ScriptDirectory

    return frozenset(
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    )


def schema_revision(db: Database) -> str | None:
    """The revision the database is at (None: no schema yet), read on a reader connection: it never
    waits for SQLite's writer, and it is quiet (Alembic's context logs each time it is set up)."""
    with db.read() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        version = sa.table("alembic_version", sa.column("version_num"))
        return conn.execute(sa.select(version.c.version_num)).scalar()


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def migrated_database(url: str) -> Iterator[Database]:
    """A ``Database`` on ``url`` with its schema at head, disposed of on exit (tests, benchmarks)."""
    db = Database(url)
    try:
        migrate(db)
        yield db
    finally:
        db.dispose()
