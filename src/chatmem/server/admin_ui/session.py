"""The admin page's browser session: one signed cookie, and the CSRF token derived from it.

The cookie holds a random nonce, the id of the admin key that signed in (never the key itself), the
tenant the operator is looking at, and an expiry, signed with HMAC-SHA256. It is HttpOnly and
SameSite=Strict (a cross-site form or fetch does not carry it). Every browser gets one on its first
page, before signing in, so the sign-in form is protected too; signing in issues a new nonce.

The CSRF token of a session is ``HMAC(secret, "csrf" + nonce)``: every state-changing form carries it
and the server recomputes it; a form without it, or with another session's, is refused (403).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace

COOKIE = "chatmem_admin"


@dataclass(frozen=True, slots=True)
class BrowserSession:
    nonce: str
    expires: float
    key_id: str | None = None  # None: not signed in (or auth is off)
    tenant: str | None = None  # the tenant the operator switched to; None: the key's own

    def signed_in(self, key_id: str | None) -> BrowserSession:
        return BrowserSession(secrets.token_urlsafe(16), self.expires, key_id, None)

    def viewing(self, tenant: str | None) -> BrowserSession:
        return replace(self, tenant=tenant)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: bytes, lifetime_seconds: float) -> None:
        if len(secret) < 16:
            raise ValueError("the admin session secret must be at least 16 bytes")
        self._secret = hashlib.sha256(b"chatmem-admin-session\x00" + secret).digest()
        self.lifetime = lifetime_seconds

    def new(self) -> BrowserSession:
        return BrowserSession(secrets.token_urlsafe(16), time.time() + self.lifetime)

    def fresh(self, session: BrowserSession) -> BrowserSession:
        """The same session with its lifetime starting now (at sign-in)."""
        return replace(session, expires=time.time() + self.lifetime)

    def dump(self, session: BrowserSession) -> str:
        body = _b64(
            json.dumps(
                {"n": session.nonce, "e": int(session.expires), "k": session.key_id, "t": session.tenant},
                separators=(",", ":"),
            ).encode()
        )
        return f"{body}.{self._mac(body)}"

    def load(self, value: str | None) -> BrowserSession | None:
        """The session of a cookie whose signature holds and which has not expired; else None."""
        if not value or len(value) > 4096:
            return None
        body, _, mac = value.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            data = json.loads(_unb64(body))
            session = BrowserSession(str(data["n"]), float(data["e"]), data.get("k"), data.get("t"))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < time.time():
            return None
        return session

    def csrf(self, session: BrowserSession) -> str:
        return self._mac("csrf\x00" + session.nonce)

    def csrf_ok(self, session: BrowserSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.csrf(session).encode())

    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._secret, text.encode(), hashlib.sha256).digest())
