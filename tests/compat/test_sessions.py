"""zep-python 1.5.0 sessions (``client.memory``) against chatmem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import RunClient

pytestmark = pytest.mark.compat


@pytest.fixture(scope="session")
def observed(run_client: RunClient) -> dict[str, Any]:
    return run_client("sessions.py")


@pytest.mark.parametrize("variant", ["plain", "unicode"])
def test_session_add_get_round_trip(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    added = run["added"]
    assert added["user_id"].endswith("-owner")
    assert added["metadata"] == {"topic": "tea", "nested": {"a": 1}}
    assert added["id_is_int"] and added["has_uuid"] and added["has_timestamps"]
    assert added["deleted_at"] is None
    assert run["fetched"] == added


def test_session_ids_with_spaces_and_unicode_survive_the_sdk_paths(observed: dict[str, Any]) -> None:
    assert observed["unicode"]["fetched"]["session_id"].endswith(" with spaces ünïcødé 会话 🚀")


@pytest.mark.parametrize("variant", ["plain", "unicode"])
def test_update_session_merges_metadata_deeply(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    merged = {"topic": "tea", "nested": {"a": 1, "b": 2}, "mood": "calm"}
    assert run["updated"]["metadata"] == merged
    assert run["fetched_after_update"]["metadata"] == merged
    assert run["updated"]["user_id"] == run["added"]["user_id"]


@pytest.mark.parametrize("variant", ["plain", "unicode"])
def test_update_session_accepts_a_fetched_session_object(observed: dict[str, Any], variant: str) -> None:
    run = observed[variant]
    assert run["updated_from_fetched"]["metadata"] == {
        "topic": "tea",
        "nested": {"a": 1, "b": 2},
        "mood": "sunny",
    }
    assert run["updated_from_fetched"]["user_id"] == run["added"]["user_id"]


def test_a_session_created_without_metadata_has_an_empty_object(observed: dict[str, Any]) -> None:
    assert observed["listing"]["created_without_metadata"] == {}


def test_list_all_sessions_visits_every_live_session_exactly_once_after_deletions(
    observed: dict[str, Any],
) -> None:
    listing = observed["listing"]
    assert listing["repeats"] == []
    assert listing["all_sessions"] == listing["list_sessions"]
    assert all(size == 2 for size in listing["chunk_sizes"][:-1])
    mine = [s for s in listing["all_sessions"] if s in listing["live_mine"] or s in listing["deleted_mine"]]
    assert mine == listing["live_mine"]


def test_list_sessions_limit_and_cursor_are_an_offset_window(observed: dict[str, Any]) -> None:
    listing = observed["listing"]
    assert listing["limit_3"] == listing["list_sessions"][:3]
    assert listing["limit_3_cursor_3"] == listing["list_sessions"][3:6]
    assert listing["cursor_past_end"] == []


def test_add_session_revives_a_deleted_session_id(observed: dict[str, Any]) -> None:
    listing = observed["listing"]
    assert listing["revived_id"] in listing["deleted_mine"]
    assert listing["revived"]["session_id"] == listing["revived_id"]
    assert listing["revived"]["metadata"] == {"again": True}
    assert listing["revived_get"] == listing["revived"]


def test_async_session_calls(observed: dict[str, Any]) -> None:
    run = observed["async"]
    assert run["added"]["metadata"] == {"a": 1}
    assert run["fetched"] == run["added"]
    assert run["updated"]["metadata"] == {"a": 1, "b": 2}
    assert run["listed"] is True
    assert run["all_sessions_equals_list"] is True
