"""Persistence: SQLAlchemy Core tables on SQLite or PostgreSQL, and their migrations."""

from chatmem.store.database import Database
from chatmem.store.migrate import migrate, migrated_database

__all__ = ["Database", "migrate", "migrated_database"]
