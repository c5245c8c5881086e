"""Data portability: export and import as JSON Lines, migration from a running Zep 0.x server, and
erasing a user for good (docs/portability.md).

A layer of its own above ``access``: it reads and writes every table in bulk, so it uses SQLAlchemy
Connections from ``Database.read()`` / ``write()`` as ``enrich`` does, and the memory layer's input
checks for what it accepts. The CLI and the REST routes only call into it.
"""
