"""Administration (admin role): ``/api/v1/admin/keys`` and ``/api/v1/admin/tenants``.

An admin manages the keys of its own tenant; an admin of the ``default`` tenant (and, with auth off,
everyone on the loopback interface) is the operator and manages every tenant. Another tenant's key is
a 404 to a tenant admin, as every other id of another tenant is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import PlainTextResponse

from chatmem.access import keys, tenants
from chatmem.access.roles import Principal, Role
from chatmem.base.errors import BadRequestError, ForbiddenError, NotFoundError
from chatmem.memory.purge import purge
from chatmem.models import WireModel
from chatmem.server.deps import Caller, Db
from chatmem.server.responses import JSON, ok

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class CreateKeyRequest(WireModel):
    role: str
    tenant: str | None = None
    name: str | None = None


class CreateTenantRequest(WireModel):
    name: str


def key_json(record: keys.KeyRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "tenant": record.tenant,
        "role": record.role,
        "name": record.name,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
        "last_used_at": record.last_used_at,
    }


def tenant_json(record: tenants.TenantRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "created_at": record.created_at}


def _tenant_for(caller: Principal, asked: str | None) -> str:
    """The tenant a request acts on: the caller's own, or any (the operator only)."""
    if asked is None or asked == caller.tenant:
        return caller.tenant
    if not caller.is_operator:
        raise NotFoundError(f"tenant not found: {asked}")
    return asked


def _operator_only(caller: Principal, what: str) -> None:
    if not caller.is_operator:
        raise ForbiddenError(f"only an admin of the default tenant {what}")


def _role(value: str) -> Role:
    try:
        return Role.parse(value)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


@router.get("/keys", operation_id="list_keys")
def list_keys(db: Db, caller: Caller, tenant: str | None = None) -> JSON:
    """The keys (never their secrets) of the caller's tenant; the operator may name another or none."""
    scope = None if tenant is None and caller.is_operator else _tenant_for(caller, tenant)
    return JSON([key_json(record) for record in keys.list_keys(db, scope)])


@router.post("/keys", operation_id="create_key", status_code=201)
def create_key(db: Db, caller: Caller, body: CreateKeyRequest) -> JSON:
    """A new key; the response is the only time its secret (``key``) is shown."""
    created = keys.create_key(db, _tenant_for(caller, body.tenant), _role(body.role), body.name)
    return JSON({**key_json(created.record), "key": created.key}, status_code=201)


@router.delete("/keys/{key_id}", operation_id="revoke_key")
def revoke_key(db: Db, caller: Caller, key_id: str) -> PlainTextResponse:
    """Revoke the key; every server refuses it within a second."""
    keys.revoke_key(db, key_id, tenant=None if caller.is_operator else caller.tenant)
    return ok()


@router.get("/tenants", operation_id="list_tenants")
def list_tenants(db: Db, caller: Caller) -> JSON:
    """Every tenant (the operator) or the caller's own."""
    found = tenants.list_tenants(db) if caller.is_operator else [tenants.get_tenant(db, caller.tenant)]
    return JSON([tenant_json(record) for record in found])


@router.post("/tenants", operation_id="create_tenant", status_code=201)
def create_tenant(db: Db, caller: Caller, body: CreateTenantRequest) -> JSON:
    """Create a tenant (operator only); an existing one is returned as it is."""
    _operator_only(caller, "manages tenants")
    return JSON(tenant_json(tenants.create_tenant(db, body.name)), status_code=201)


@router.delete("/tenants/{name}", operation_id="delete_tenant")
def delete_tenant(db: Db, caller: Caller, name: str) -> PlainTextResponse:
    """Delete a tenant (operator only): its keys stop working and its users and sessions are deleted."""
    _operator_only(caller, "manages tenants")
    tenants.delete_tenant(db, name)
    return ok()


@router.post("/purge", operation_id="purge")
def purge_now(db: Db, caller: Caller) -> JSON:
    """Hard-delete soft-deleted sessions and messages now (what the periodic purge does)."""
    _operator_only(caller, "runs the purge")
    result = purge(db)
    return JSON({"sessions": result.sessions, "messages": result.messages})
