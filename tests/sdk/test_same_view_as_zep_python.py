"""chatmem's SDK and the real zep-python 1.5.0 read the same data from the same server state."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from chatmem import CreateUserRequest, Memory, Message, Session, ZepClient
from tests.support import LiveServer

REPO = Path(__file__).resolve().parents[2]
COMPAT_PYTHON = REPO / ".venv-compat" / "bin" / "python"
VIEW_SCRIPT = Path(__file__).resolve().parent / "zep_python_view.py"
TIMESTAMPS = ("created_at", "updated_at", "deleted_at")

pytestmark = pytest.mark.compat


def normalized(record: dict[str, Any]) -> dict[str, Any]:
    """Timestamps as datetimes and uuids as strings, whichever way each SDK typed them."""
    out = {key: str(value) if isinstance(value, uuid.UUID) else value for key, value in record.items()}
    for key in TIMESTAMPS:
        if isinstance(out.get(key), str):
            out[key] = dt.datetime.fromisoformat(out[key])
    return out


def ours(model: Any) -> dict[str, Any]:
    return normalized(model.model_dump())


def zep_python_view(base_url: str, user_id: str, session_id: str) -> dict[str, Any]:
    if not COMPAT_PYTHON.exists():
        pytest.fail(f"{COMPAT_PYTHON} is missing: build it with scripts/compat_venv.sh", pytrace=False)
    done = subprocess.run(
        [str(COMPAT_PYTHON), str(VIEW_SCRIPT), base_url, user_id, session_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    view: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return view


def test_both_sdks_observe_the_same_sessions_messages_and_users(shared_server: LiveServer) -> None:
    token = uuid.uuid4().hex[:12]
    user_id, session_id = f"u-{token}", f"s-{token}"
    with ZepClient(shared_server.url) as client:
        client.user.add(CreateUserRequest(user_id=user_id, email="a@example.com", metadata={"tier": 1}))
        client.memory.add_session(Session(session_id=session_id, user_id=user_id, metadata={"a": {"b": 1}}))
        client.memory.add_memory(
            session_id,
            Memory(messages=[Message(role="human", content=f"m{i}", metadata={"i": i}) for i in range(5)]),
        )
        first = client.memory.get_memory(session_id).messages[0]
        assert first.uuid is not None
        client.message.update_message_metadata(session_id, first.uuid, {"metadata": {"seen": True}})

        theirs = zep_python_view(shared_server.url, user_id, session_id)
        memory = client.memory.get_memory(session_id, lastn=50)

        assert normalized(theirs["session"]) == ours(client.memory.get_session(session_id))
        assert [normalized(m) for m in theirs["memory_messages"]] == [
            without_updated_at(m) for m in memory.messages
        ]
        assert memory.messages[0].metadata == {"i": 0, "seen": True}
        page = client.message.get_session_messages(session_id, limit=2, cursor=2)
        assert [normalized(m) for m in theirs["message_page_2"]] == [without_updated_at(m) for m in page]
        assert normalized(theirs["one_message"]) == without_updated_at(
            client.message.get_session_message(session_id, first.uuid)
        )
        assert normalized(theirs["user"]) == ours(client.user.get(user_id))
        assert [normalized(s) for s in theirs["user_sessions"]] == [
            ours(s) for s in client.user.get_sessions(user_id)
        ]
        # The one documented difference: no summary yet is None here, an all-zero Summary there.
        assert memory.summary is None
        assert theirs["summary"]["uuid"] == "00000000-0000-0000-0000-000000000000"


def without_updated_at(message: Message) -> dict[str, Any]:
    """zep-python's Message has no ``updated_at``; compare every field it does have."""
    return {key: value for key, value in ours(message).items() if key != "updated_at"}
