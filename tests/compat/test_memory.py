"""zep-python 1.5.0 memory (``client.memory``) and messages (``client.message``) against chatmem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import RunClient

pytestmark = pytest.mark.compat

NOT_FOUND = {"error": "NotFoundError"}
ZERO_SUMMARY = {
    "uuid": "00000000-0000-0000-0000-000000000000",
    "created_at": "0001-01-01T00:00:00Z",
    "content": "",
    "recent_message_uuid": "00000000-0000-0000-0000-000000000000",
    "token_count": 0,
}
VARIANTS = pytest.mark.parametrize("variant", ["plain", "unicode"])


def turns(start: int, stop: int) -> list[str]:
    return [f"turn {n}" for n in range(start, stop)]


@pytest.fixture(scope="session")
def observed(run_client: RunClient) -> dict[str, Any]:
    return run_client("memory.py")


@VARIANTS
def test_get_memory_of_an_unknown_session_is_empty(observed: dict[str, Any], variant: str) -> None:
    assert observed[variant]["unknown_before"] == []


@VARIANTS
def test_add_memory_creates_the_session_and_answers_ok(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["add_memory_returns"] == "OK"
    assert run["auto_created_session"] == run["revived_session"]


@VARIANTS
def test_get_memory_returns_the_newest_12_messages_by_default(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["window"] == turns(3, 15)
    assert run["window_first"] == {
        "role": "ai",
        "content": "turn 3",
        "metadata": {"n": 3},
        "has_uuid": True,
        "has_created_at": True,
        "token_count_is_int": True,
    }


@VARIANTS
def test_get_memory_lastn_returns_the_last_n_in_order(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["lastn_3"] == turns(12, 15)
    assert run["after_append_lastn_4"] == turns(13, 17)


@VARIANTS
def test_the_summary_parses_as_zeps_empty_summary(observed: dict[str, Any], variant: str) -> None:
    assert observed[variant]["summary"] == ZERO_SUMMARY


@VARIANTS
def test_delete_memory_hides_the_session_and_its_messages(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["delete_memory_returns"] == "OK"
    assert run["after_delete"] == []
    assert run["second_delete"] == NOT_FOUND
    assert run["session_after_delete"] == NOT_FOUND


@VARIANTS
def test_add_memory_after_delete_revives_without_old_messages(observed: dict[str, Any], variant: str) -> None:
    assert observed[variant]["revived"] == ["back again"]


@pytest.mark.parametrize("variant", ["messages", "messages_unicode"])
def test_message_list_pages_by_page_number(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["all"] == turns(0, 5)
    assert run["page_1"] == turns(0, 2)
    assert run["page_3"] == turns(4, 5)


@pytest.mark.parametrize("variant", ["messages", "messages_unicode"])
def test_message_get_and_metadata_update(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["fetched_same_uuid"] is True
    assert run["fetched"]["content"] == "turn 1"
    assert run["fetched"]["metadata"] == {"n": 1}
    # RFC 7396 merge: the new key is added and the key sent as null is removed.
    assert run["updated"]["metadata"] == {"flag": True}
    assert run["updated"]["content"] == "turn 1"
    assert run["refetched"] == run["updated"]
    assert run["memory_sees_update"] == {"flag": True}
    assert run["other_session"] == NOT_FOUND


def test_a_retried_message_uuid_is_stored_once(observed: dict[str, Any]) -> None:
    run = observed["retries"]
    assert run["contents"] == ["only once"]
    assert run["uuids"] == [run["sent"]]


def test_messages_read_from_one_session_can_be_added_to_another(observed: dict[str, Any]) -> None:
    run = observed["retries"]
    assert run["copied"] == ["only once"]
    assert run["original_after_copy"] == ["only once"]


def test_async_memory_and_message_calls(observed: dict[str, Any]) -> None:
    run = observed["async"]
    assert run["lastn_2"] == turns(2, 4)
    assert run["messages"] == turns(0, 4)
    assert run["fetched"] == "turn 0"
    assert run["updated_metadata"] == {"n": 0, "x": 1}
    assert run["delete_returns"] == "OK"
    assert run["after_delete"] == []
