"""Roles, each including the ones below it: reader < writer < admin."""

from __future__ import annotations

import enum

from chatmem.store.tables import DEFAULT_TENANT_ID


class Role(enum.IntEnum):
    READER = 1  # reads and search
    WRITER = 2  # + writes and deletes
    ADMIN = 3  # + tenants, keys, purge, queue administration

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {value!r}: use reader, writer or admin") from None


class Principal:
    """Who is calling: a tenant (id and name), a role, and the key id when a chatmem key was used."""

    __slots__ = ("key_id", "role", "tenant", "tenant_id")

    def __init__(self, tenant_id: int, tenant: str, role: Role, key_id: str | None = None) -> None:
        self.tenant_id = tenant_id
        self.tenant = tenant
        self.role = role
        self.key_id = key_id

    @property
    def is_operator(self) -> bool:
        """An admin of the default tenant manages every tenant (``chatmem`` run on the server, too)."""
        return self.role is Role.ADMIN and self.tenant_id == DEFAULT_TENANT_ID

    def __repr__(self) -> str:
        return f"Principal(tenant={self.tenant!r}, role={self.role.label}, key_id={self.key_id!r})"
