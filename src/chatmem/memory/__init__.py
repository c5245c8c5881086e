"""The rules of the store: sessions, messages, users, metadata merge, soft delete, windowing, purge.

One plain function per operation, shared by every front end (REST, CLI, tests). Functions take a
``Database`` and raise ``chatmem.base.errors`` exceptions; they know nothing about HTTP.
"""
