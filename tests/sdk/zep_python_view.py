"""Runs under .venv-compat's Python (the real zep-python 1.5.0): reads one user and one session and
prints, as one JSON object, everything zep-python parsed from the server.

Usage: ``python zep_python_view.py BASE_URL USER_ID SESSION_ID``. Ids must be made of URL-safe
characters (zep-python pastes them into paths unencoded).
"""

from __future__ import annotations

import json
import sys

from zep_python import ZepClient  # type: ignore[import-not-found]  # lives in .venv-compat only


def main() -> None:
    base_url, user_id, session_id = sys.argv[1:4]
    client = ZepClient(base_url)
    memory = client.memory.get_memory(session_id, lastn=50)
    messages = client.message.get_session_messages(session_id, limit=2, cursor=2)
    view = {
        "session": client.memory.get_session(session_id).dict(),
        "memory_messages": [m.dict() for m in memory.messages],
        "summary": memory.summary.dict() if memory.summary else None,
        "message_page_2": [m.dict() for m in messages],
        "one_message": client.message.get_session_message(session_id, memory.messages[0].uuid).dict(),
        "user": client.user.get(user_id).dict(),
        "user_sessions": [s.dict() for s in client.user.get_sessions(user_id)],
    }
    print(json.dumps(view, default=str))


if __name__ == "__main__":
    main()
