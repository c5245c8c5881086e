"""Zep 0.x tokens: HS256 JWTs signed with the deployment's shared secret (``ZEP_AUTH_SECRET``).

Zep required no claims and checked ``exp``, ``nbf`` and ``iat`` only when present (reference
zep-0x-server.md section 7); chatmem does the same. Two optional claims of its own: ``tenant`` (a
tenant name; else the default tenant) and ``role`` (else writer: a Zep token could write everything).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from chatmem.access.roles import Role
from chatmem.store.tables import DEFAULT_TENANT

ALGORITHM = "HS256"
TENANT_CLAIM = "tenant"
ROLE_CLAIM = "role"
# Clock skew tolerated between the token's issuer and this server.
LEEWAY_SECONDS = 30


class TokenError(Exception):
    """The token is not acceptable; ``str(exc)`` says why (safe to show the caller)."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    tenant: str
    role: Role
    # Unix time after which the token is no longer accepted (its ``exp``), if any.
    expires_at: float | None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def verify(token: str, secret: str) -> TokenClaims:
    if not secret:
        raise TokenError("JWTs are not accepted: the server has no CHATMEM_AUTH_JWT_SECRET")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            leeway=LEEWAY_SECONDS,
            options={"require": [], "verify_aud": False, "verify_iss": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token is expired") from None
    except jwt.ImmatureSignatureError:
        # PyJWT refuses an nbf or an iat in the future.
        raise TokenError("token is not valid yet (nbf or iat)") from None
    except jwt.InvalidTokenError:
        raise TokenError("token is unauthorized") from None
    tenant = claims.get(TENANT_CLAIM, DEFAULT_TENANT)
    role_name = claims.get(ROLE_CLAIM, Role.WRITER.label)
    if not isinstance(tenant, str) or not isinstance(role_name, str):
        raise TokenError("token claims tenant and role must be strings")
    try:
        role = Role.parse(role_name)
    except ValueError as exc:
        raise TokenError(str(exc)) from None
    expires = claims.get("exp")
    return TokenClaims(
        tenant, role, float(expires) + LEEWAY_SECONDS if isinstance(expires, int | float) else None
    )


def mint(
    secret: str, *, tenant: str | None = None, role: Role | None = None, expires_in: float | None = None
) -> str:
    """A token as ``chatmem token create`` prints it: no claims unless asked (like ``zep -g``)."""
    if not secret:
        raise TokenError("set CHATMEM_AUTH_JWT_SECRET (or pass --secret) to sign tokens")
    claims: dict[str, Any] = {}
    if tenant is not None:
        claims[TENANT_CLAIM] = tenant
    if role is not None:
        claims[ROLE_CLAIM] = role.label
    if expires_in is not None:
        now = int(time.time())
        claims |= {"iat": now, "exp": now + int(expires_in)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
