"""The migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chatmem.store import Database, migrate
from chatmem.store.migrate import current_revision
from chatmem.store.tables import include_name, metadata_obj
from tests.support import database_url


def test_migrated_schema_matches_the_table_definitions(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        db = Database(url)
        try:
            migrate(db)
            migrate(db)  # idempotent
            with db.engine.connect() as conn:
                context = MigrationContext.configure(
                    conn, opts={"compare_type": True, "include_name": include_name}
                )
                assert compare_metadata(context, metadata_obj) == []
            assert current_revision(db) is not None
        finally:
            db.dispose()
