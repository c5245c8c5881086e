"""The session code from Zep's documentation runs against chatmem with only the import changed."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path
from typing import Any

import pytest

from chatmem import NotFoundError, Session, ZepClient
from tests.support import LiveServer


async def test_zep_documentation_session_example_runs_unchanged_but_for_the_import(
    shared_server: LiveServer, user_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snippet exactly as the issue prints it (the first ``Session`` has no ``session_id``)."""
    with ZepClient(base_url=shared_server.url) as other:
        bystander = other.memory.add_session(Session(user_id=user_id))
    monkeypatch.setenv("CHATMEM_URL", shared_server.url)  # the snippet passes no base_url
    api_key = "any-key"  # chatmem does not check keys; the header must not hurt
    seen: dict[str, object] = {}

    # Lines marked "test:" only record what the example observed.
    # fmt: off
    async with ZepClient(api_key=api_key) as client:
        session_id = uuid.uuid4().hex # A new session identifier
        session = Session(
                    user_id=user_id,  # Optionally associate this session with a user
                    metadata={"foo" : "bar"}
        )
        await client.memory.aadd_session(session)
        seen["first"] = session  # test:

    session = Session(session_id=session_id, metadata={"qax" : "baz"})
    await client.memory.aupdate_session(session)          # metadata is merged, not replaced
    session = await client.memory.aget_session(session_id)
    seen["after_update"] = session  # test:
    await client.memory.adelete_memory(session_id)         # soft-deletes the session and its memories

    sessions = client.memory.list_sessions(limit=10, cursor=0)
    for session in sessions: ...  # noqa: B007
    seen["first_page"] = sessions  # test:
    all_sessions = client.memory.list_all_sessions(chunk_size=100)
    seen["all"] = []  # test:
    for session_chunk in all_sessions:
        for session in session_chunk: ...  # noqa: B007
        seen["all"].extend(session_chunk)  # type: ignore[attr-defined]  # test:
    # fmt: on

    first = seen["first"]
    assert isinstance(first, Session) and first.session_id != session_id
    stored_first = await client.memory.aget_session(first.session_id)
    assert stored_first.user_id == user_id and stored_first.metadata == {"foo": "bar"}
    after_update = seen["after_update"]
    assert isinstance(after_update, Session)
    assert after_update.session_id == session_id
    assert after_update.metadata == {"qax": "baz"}
    with pytest.raises(NotFoundError):
        await client.memory.aget_session(session_id)
    listed = [s.session_id for s in seen["all"]]  # type: ignore[attr-defined]
    assert session_id not in listed
    assert listed.count(first.session_id) == 1
    assert listed.count(bystander.session_id) == 1
    assert len(listed) == len(set(listed))
    first_page = seen["first_page"]
    assert isinstance(first_page, list)
    assert [s.session_id for s in first_page] == listed[:10]
    await client.aclose()


async def test_update_session_merges_into_an_existing_session_and_creates_a_missing_one(
    client: ZepClient, user_id: str
) -> None:
    added = await client.memory.aadd_session(Session(user_id=user_id, metadata={"foo": "bar"}))
    merged = await client.memory.aupdate_session(
        Session(session_id=added.session_id, metadata={"qax": "baz"})
    )
    assert merged.metadata == {"foo": "bar", "qax": "baz"} and merged.user_id == user_id

    missing = uuid.uuid4().hex
    created = await client.memory.aupdate_session(
        Session(session_id=missing, user_id=user_id, metadata={"qax": "baz"})
    )
    assert (created.session_id, created.user_id, created.metadata) == (missing, user_id, {"qax": "baz"})
    assert (await client.memory.aget_session(missing)).metadata == {"qax": "baz"}


DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdk.md"


def documented_example() -> str:
    """The python block right after ``<!-- example: sessions -->`` in docs/sdk.md."""
    text = DOCS.read_text()
    after_marker = text[text.index("<!-- example: sessions -->") :]
    start = after_marker.index("```python\n") + len("```python\n")
    return after_marker[start : after_marker.index("```\n", start)]


async def test_the_example_in_the_sdk_docs_runs_as_written(
    shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATMEM_URL", shared_server.url)
    code = compile(documented_example(), str(DOCS), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {}
    result = eval(code, namespace)  # a coroutine, because the example awaits at top level
    await result

    client = namespace["client"]
    assert isinstance(client, ZepClient)
    with pytest.raises(NotFoundError):
        await client.memory.aget_session(namespace["session_id"])
    assert isinstance(namespace["sessions"], list)
    assert next(namespace["all_sessions"], None) is None  # iterated to the end
    await client.aclose()
