"""The rules of the store: sessions, messages, users, metadata merge, soft delete, windowing, purge.

One plan function per operation (``..._plan``), shared by every front end (REST, CLI, tests): it
validates its input, then returns a ``ReadPlan`` or ``WritePlan`` that ``Database`` runs (the memory
layer's one way to the database, docs/architecture.md). Plans raise ``chatmem.base.errors`` exceptions
and know nothing about HTTP.
"""
