"""The tenant condition every query on users and sessions carries (docs/security.md).

Rows below a session (messages, summaries, vectors, jobs) are reached through the session's surrogate
key, found by a lookup that already has this condition. They carry the tenant too (it leads their keys,
migration 0007): a join names it (``messages.tenant_id = sessions.tenant_id``) and a lookup by key binds
it (``messages.tenant_id = :tenant_id``), so the index is entered by its leading column.
"""

from __future__ import annotations

import sqlalchemy as sa

# Bound by every plan from the caller's principal: ``statement(query, tenant_id=..., ...)``.
TENANT = sa.bindparam("tenant_id", type_=sa.BigInteger)


def of_tenant(table: sa.Table) -> sa.ColumnElement[bool]:
    """``table.tenant_id = :tenant_id`` (``users`` or ``sessions``)."""
    return table.c.tenant_id == TENANT
