"""Fill a server standing in for Zep through zep-python, as an application would have filled Zep: users,
their sessions and sessions of no user, messages with metadata, updated metadata, a deleted session, a
revived one, an empty one. Called as ``python migration_source.py BASE_URL PREFIX [API_KEY]``; prints
the ids it used (tests/test_import_zep.py migrates the server with ``chatmem import-zep``)."""

from __future__ import annotations

import sys

from _common import SPACE_UNICODE, arguments, emit
from zep_python import ZepClient
from zep_python.memory import Memory, Message, Session
from zep_python.user import CreateUserRequest, UpdateUserRequest

ROLES = ["human", "ai", "system"]
WORDS = ["naïve café", "Привет", "こんにちは 🦜", "tab\there", "line\nbreak", "plain"]


def turns(start: int, stop: int) -> Memory:
    return Memory(
        messages=[
            Message(
                role=ROLES[n % 3],
                content=f"{WORDS[n % len(WORDS)]} turn {n}",
                metadata={"n": n, "nested": {"w": WORDS[n % len(WORDS)]}} if n % 2 else None,
            )
            for n in range(start, stop)
        ]
    )


def main() -> None:
    url, prefix = arguments()
    api_key = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    client = ZepClient(base_url=url, api_key=api_key)
    user_ids = [f"{prefix} user {n} {SPACE_UNICODE}" for n in range(3)]
    for n, user_id in enumerate(user_ids):
        client.user.add(
            CreateUserRequest(
                user_id=user_id,
                email=f"{n}@example.org",
                first_name=WORDS[n],
                last_name="Lovelace" if n else None,
                metadata={"plan": "free", "n": n, "prefs": {"lang": "en"}},
            )
        )
    client.user.update(UpdateUserRequest(user_id=user_ids[1], metadata={"prefs": {"tz": "UTC"}}))
    session_ids: list[str] = []
    for n in range(9):
        session_id = f"{prefix} session {n} {SPACE_UNICODE}"
        session_ids.append(session_id)
        owner = user_ids[n % 3] if n % 4 else None
        if n == 8:  # created by its first append, as Zep does
            client.memory.add_memory(session_id, turns(0, 3))
            continue
        client.memory.add_session(
            Session(session_id=session_id, user_id=owner, metadata={"topic": WORDS[n % len(WORDS)], "n": n})
        )
        if n == 7:  # empty
            continue
        count = 25 if n == 1 else 1 + n % 5
        client.memory.add_memory(session_id, turns(0, count))
        if n == 2:
            client.memory.update_session(Session(session_id=session_id, metadata={"extra": {"k": [1, 2]}}))
            first = client.message.get_session_messages(session_id)[0]
            client.message.update_message_metadata(session_id, first.uuid, {"metadata": {"edited": True}})
        if n == 3:  # deleted: Zep's API no longer shows it
            client.memory.delete_memory(session_id)
        if n == 5:  # deleted, then revived by an append: only the new messages are shown
            client.memory.delete_memory(session_id)
            client.memory.add_memory(session_id, turns(100, 103))
    emit({"user_ids": user_ids, "session_ids": session_ids})


if __name__ == "__main__":
    main()
