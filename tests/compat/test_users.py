"""zep-python 1.5.0 ``client.user`` against chatmem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import RunClient

pytestmark = pytest.mark.compat


@pytest.fixture(scope="session")
def observed(run_client: RunClient) -> dict[str, Any]:
    return run_client("users.py")


@pytest.mark.parametrize("variant", ["plain", "unicode"])
def test_user_add_get_update_round_trip(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    added, fetched, updated = run["added"], run["fetched"], run["updated"]
    assert added["email"] == "ada@example.com"
    assert (added["first_name"], added["last_name"]) == ("Ada", "Lovelace")
    assert added["metadata"] == {"plan": "free", "prefs": {"lang": "en"}}
    assert added["uuid"] and added["has_timestamps"] and added["id_is_int"]
    assert fetched == added
    assert updated["user_id"] == added["user_id"]
    assert updated["first_name"] == "Augusta"
    assert updated["last_name"] == "Lovelace"
    assert updated["email"] == "ada@example.com"
    assert updated["metadata"] == {"plan": "free", "prefs": {"lang": "en", "tz": "UTC"}}


def test_user_ids_with_spaces_and_unicode_survive_the_sdk_paths(observed: dict[str, Any]) -> None:
    user_id = observed["unicode"]["added"]["user_id"]
    assert user_id.endswith(" with spaces ünïcødé 会话 🚀")
    assert [owner for _, owner in observed["unicode"]["sessions"]] == [user_id, user_id]


@pytest.mark.parametrize("variant", ["plain", "unicode"])
def test_get_sessions_lists_the_users_live_sessions(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    user_id = run["added"]["user_id"]
    assert run["sessions"] == [[f"{user_id}-a", user_id], [f"{user_id}-b", user_id]]


def test_get_sessions_of_an_unknown_user_is_empty(observed: dict[str, Any]) -> None:
    assert observed["unknown_user_sessions"] == []


@pytest.mark.parametrize("variant", ["plain", "unicode"])
def test_deleting_a_user_removes_it_and_its_sessions(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["after_delete_get"] == {"error": "NotFoundError"}
    assert run["after_delete_sessions"] == []
    assert run["after_delete_session_get"] == {"error": "NotFoundError"}
    assert run["after_delete_memory"] == []
    assert run["second_delete"] == {"error": "NotFoundError"}


def test_list_chunked_visits_every_live_user_once_after_deletions(observed: dict[str, Any]) -> None:
    paging = observed["paging"]
    assert paging["chunked_repeats"] == []
    assert paging["chunked"] == paging["list_all"]
    mine = [user for user in paging["chunked"] if user in paging["live_mine"]]
    assert mine == paging["live_mine"]


def test_user_list_limit_and_cursor_are_an_offset_window(observed: dict[str, Any]) -> None:
    paging = observed["paging"]
    assert paging["list_limit_2"] == paging["list_all"][:2]
    assert paging["list_limit_2_cursor_2"] == paging["list_all"][2:4]
    assert paging["list_cursor_past_end"] == []


def test_async_user_calls(observed: dict[str, Any]) -> None:
    run = observed["async"]
    assert run["added"]["metadata"] == {"a": 1}
    assert run["fetched"] == run["added"]
    assert run["updated"]["metadata"] == {"a": 1, "b": 2}
    assert run["sessions"] == [f"{run['added']['user_id']}-s"]
    assert run["listed"] is True
    assert run["chunked_equals_list"] is True
    assert run["after_delete_get"] == {"error": "NotFoundError"}
