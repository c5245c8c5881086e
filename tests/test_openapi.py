"""The OpenAPI document describes what the server does (schemathesis checks it against the live server
in tests/test_openapi_fuzz.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chatmem.config import Settings
from chatmem.server import create_app


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("openapi") / "doc.db"
    return create_app(Settings(database_url=f"sqlite:///{path}", max_page_size=500)).openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_has_a_success_body_and_the_json_error_body(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert "422" not in responses, (method, path)
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, (method, path)
        content = responses[success[0]]["content"]
        schema = next(iter(content.values()))["schema"]
        assert schema, (method, path)
        for code in ("400", "503"):
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }
        if method in ("post", "patch", "put"):
            assert {"408", "413", "415"} <= set(responses), (method, path)


def test_ok_bodies_are_text_and_creates_are_201(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert list(paths["/api/v1/sessions/{session_id}/memory"]["post"]["responses"]["200"]["content"]) == [
        "text/plain"
    ]
    # DELETE user answers OK, or with ?erase=true the erase receipt.
    deleted = paths["/api/v1/user/{user_id}"]["delete"]["responses"]["200"]["content"]
    assert list(deleted) == ["text/plain", "application/json"]
    receipt = deleted["application/json"]["schema"]
    assert receipt["title"] == "EraseReceipt" and "messages" in receipt["properties"]
    assert "201" in paths["/api/v1/sessions"]["post"]["responses"]
    listed = paths["/api/v1/sessions"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}


def test_integer_parameters_are_integers_with_their_bounds(document: dict[str, Any]) -> None:
    found = {
        (path, parameter["name"]): parameter["schema"]
        for _method, path, operation in operations(document)
        for parameter in operation.get("parameters", ())
        if parameter["name"] in ("limit", "lastn", "cursor")
    }
    assert found[("/api/v1/sessions", "limit")] == {"type": "integer", "minimum": 0, "maximum": 500}
    assert found[("/api/v1/sessions/{session_id}/memory", "lastn")]["maximum"] == 1000
    assert all(schema["type"] == "integer" for schema in found.values())
