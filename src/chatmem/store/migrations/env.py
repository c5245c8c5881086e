"""Alembic environment: always run through chatmem.store.migrate, which hands us a connection."""

from __future__ import annotations

from alembic import context

from chatmem.store.tables import include_name, metadata_obj

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata_obj,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # The dialect-specific search objects of migration 0003 are not in the metadata.
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
