"""zep-python 1.5.0: constructing ZepClient against chatmem, and how errors reach the caller."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compat.conftest import RunClient

pytestmark = pytest.mark.compat

NOT_FOUND = {"error": "NotFoundError"}


@pytest.fixture(scope="session")
def observed(run_client: RunClient) -> dict[str, Any]:
    return run_client("connection.py")


def bad_request(observed_error: dict[str, Any]) -> bool:
    body = observed_error.get("body")
    return (
        observed_error.get("error") == "APIError"
        and observed_error.get("status") == 400
        and isinstance(body, dict)
        and isinstance(body.get("message"), str)
        and body["message"] != ""
    )


def test_client_connects_without_any_warning(observed: dict[str, Any]) -> None:
    assert observed["warnings"] == []
    assert observed["healthz_status"] == 200
    assert observed["healthz_text"] == "."
    assert observed["version_header"].startswith("0.27.2-")


def test_unknown_users_sessions_and_messages_raise_not_found(observed: dict[str, Any]) -> None:
    errors = observed["errors"]
    for case in (
        "unknown_user_get",
        "unknown_user_update",
        "unknown_user_delete",
        "unknown_session_get",
        "unknown_session_update",
        "unknown_session_delete",
        "unknown_message_get",
        "unknown_message_update",
    ):
        assert errors[case] == NOT_FOUND, case


def test_rejected_requests_raise_api_error_400_with_a_json_message(observed: dict[str, Any]) -> None:
    errors = observed["errors"]
    for case in (
        "duplicate_user",
        "duplicate_session",
        "session_of_unknown_user",
        "negative_lastn",
        "malformed_message_uuid",
    ):
        assert bad_request(errors[case]), (case, errors[case])
    assert "already exists" in errors["duplicate_user"]["body"]["message"]


def test_async_calls_map_errors_like_sync_ones(observed: dict[str, Any]) -> None:
    errors = observed["async_errors"]
    assert bad_request(errors["duplicate_user"])
    assert errors["unknown_session_get"] == NOT_FOUND
    assert errors["unknown_session_delete"] == NOT_FOUND
    assert errors["unknown_user_get"] == NOT_FOUND
