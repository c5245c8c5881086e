"""A generated corpus for the portability tests, written and read back through the REST API."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

import httpx

# Odd ids: unicode, spaces, URL-special characters, very long, a lone digit string.
ODD_IDS = ["ü ser/1?x=%41#frag", "日本語 セッション", "🙂" * 3, "a" * 300, "0042", "quote\"'\\back"]
WORDS = ["naïve", "café", "Привет", "こんにちは", "🦜", "tab\there", "line\nbreak", "plain", "zero"]


def path(value: str) -> str:
    return quote(value, safe="")


def fill(api: httpx.Client, seed: int = 7) -> None:
    """Users, their sessions (some deleted, some revived), messages with metadata."""
    rng = random.Random(seed)
    users = [f"user {odd}" for odd in ODD_IDS[:4]]
    for n, user in enumerate(users):
        body = {"user_id": user, "email": f"{n}@example.org", "first_name": WORDS[n], "metadata": {"n": n}}
        api.post("/user", json=body).raise_for_status()
    for n, odd in enumerate(ODD_IDS * 2):
        session = f"{odd} {n}"
        owner = users[n % len(users)] if n % 3 else None
        session_body: dict[str, Any] = {
            "session_id": session,
            "metadata": {"k": WORDS[n % len(WORDS)], "nested": {"n": n}},
        }
        if owner:
            session_body["user_id"] = owner
        api.post("/sessions", json=session_body).raise_for_status()
        for _ in range(rng.randint(1, 3)):
            messages = [
                {
                    "role": rng.choice(["human", "ai", "system"]),
                    "content": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))),
                    "metadata": {"i": i, "w": rng.choice(WORDS)} if i % 2 else None,
                }
                for i in range(rng.randint(1, 7))
            ]
            for m in messages:
                if m["metadata"] is None:
                    del m["metadata"]
            api.post(f"/sessions/{path(session)}/memory", json={"messages": messages}).raise_for_status()
        if n % 4 == 1:  # deleted
            api.delete(f"/sessions/{path(session)}/memory").raise_for_status()
        if n % 4 == 2:  # deleted, then revived by an append
            api.delete(f"/sessions/{path(session)}/memory").raise_for_status()
            revived = {"messages": [{"role": "human", "content": f"back again {n} ✨"}]}
            api.post(f"/sessions/{path(session)}/memory", json=revived).raise_for_status()


def _without_ids(value: Any) -> Any:
    """Surrogate integer ids differ between databases; everything else must not."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def read_all(api: httpx.Client, session_ids: list[str]) -> dict[str, Any]:
    """Every user, session and message as the API returns them (and 404s for deleted sessions)."""
    seen: dict[str, Any] = {"users": api.get("/user", params={"limit": 1000}).json()}
    seen["sessions"] = api.get("/sessions", params={"limit": 1000}).json()
    for user in seen["users"]:
        uid = path(user["user_id"])
        seen[f"user {user['user_id']}"] = [
            api.get(f"/user/{uid}").json(),
            api.get(f"/user/{uid}/sessions").json(),
        ]
    for session in session_ids:
        sid = path(session)
        got = api.get(f"/sessions/{sid}")
        if got.status_code == 404:
            seen[f"session {session}"] = 404
            continue
        seen[f"session {session}"] = [
            got.json(),
            api.get(f"/sessions/{sid}/messages", params={"limit": 1000}).json(),
            api.get(f"/sessions/{sid}/memory", params={"lastn": 1000}).json(),
        ]
    stripped: dict[str, Any] = _without_ids(seen)
    return stripped


def session_ids() -> list[str]:
    return [f"{odd} {n}" for n, odd in enumerate(ODD_IDS * 2)]
