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
    with ZepClient(base_url=shared_server.url) as other:
        bystander = other.memory.add_session(Session(user_id=user_id))
    monkeypatch.setenv("CHATMEM_URL", shared_server.url)  # the snippet passes no base_url
    api_key = "any-key"  # chatmem does not check keys; the header must not hurt
    seen: dict[str, object] = {}

    # The example from docs/sdk.md; lines marked "test:" only record what the example observed.
    # fmt: off
    async with ZepClient(api_key=api_key) as client:
        session_id = uuid.uuid4().hex # A new session identifier
        session = Session(
                    session_id=session_id,
                    user_id=user_id,  # Optionally associate this session with a user
                    metadata={"foo" : "bar"}
        )
        await client.memory.aadd_session(session)

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

    after_update = seen["after_update"]
    assert isinstance(after_update, Session)
    assert after_update.session_id == session_id
    assert after_update.user_id == user_id
    assert after_update.metadata == {"foo": "bar", "qax": "baz"}
    with pytest.raises(NotFoundError):
        await client.memory.aget_session(session_id)
    listed = [s.session_id for s in seen["all"]]  # type: ignore[attr-defined]
    assert session_id not in listed
    assert listed.count(bystander.session_id) == 1
    assert len(listed) == len(set(listed))
    first_page = seen["first_page"]
    assert isinstance(first_page, list)
    assert [s.session_id for s in first_page] == listed[:10]
    await client.aclose()


async def test_a_session_built_without_an_id_gets_a_fresh_one_not_the_variable_next_to_it(
    client: ZepClient,
) -> None:
    """The issue prints the example without ``session_id=session_id``: the added session then has a
    fresh id of its own, and ``session_id`` names no session at all."""
    session_id = uuid.uuid4().hex
    session = Session(metadata={"foo": "bar"})
    added = await client.memory.aadd_session(session)

    assert added.session_id == session.session_id != session_id
    assert len(session.session_id) == 32 and int(session.session_id, 16) >= 0
    with pytest.raises(NotFoundError):
        await client.memory.aupdate_session(Session(session_id=session_id, metadata={"qax": "baz"}))
    assert (await client.memory.aget_session(added.session_id)).metadata == {"foo": "bar"}


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
