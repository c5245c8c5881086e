"""What every client relies on before any data is involved: health, headers, paths, errors."""

from __future__ import annotations

import httpx

from tests.support import LiveServer


def test_healthz_answers_exactly_a_dot_with_the_zep_version(shared_server: LiveServer) -> None:
    response = httpx.get(f"{shared_server.url}/healthz")
    assert response.status_code == 200
    assert response.text == "."
    assert response.headers["x-zep-version"].startswith("0.27.2-")


def test_every_response_carries_the_zep_version_header_even_errors(api: httpx.Client) -> None:
    for response in (
        api.get("/sessions/nope"),
        api.get("/no-such-route"),
        api.post("/sessions", content=b"{", headers={"content-type": "application/json"}),
        api.post("/sessions", content=b"{}"),
    ):
        assert response.status_code in (400, 404, 415)
        assert response.headers["x-zep-version"].split("-")[0] == "0.27.2"


def test_unknown_routes_are_json_404(api: httpx.Client) -> None:
    response = api.get("/definitely/not/here")
    assert response.status_code == 404
    assert response.json() == {"message": "not found"}


def test_wrong_method_is_405_json(api: httpx.Client, sid: str) -> None:
    response = api.put(f"/sessions/{sid}/memory", json={})
    assert response.status_code == 405
    assert "message" in response.json()


def test_trailing_slash_reaches_the_same_handler_without_redirect(api: httpx.Client, sid: str) -> None:
    assert api.post(f"/sessions/{sid}/memory/", json={"messages": []}).text == "OK"
    response = api.get(f"/sessions/{sid}/")
    assert response.status_code == 200
    assert response.json()["session_id"] == sid
    assert api.get("/sessions/").status_code == 200


def test_request_body_over_the_limit_is_413_and_stores_nothing(api: httpx.Client, sid: str) -> None:
    huge = "x" * (5 * 1024 * 1024 + 1)
    response = api.post(f"/sessions/{sid}/memory", json={"messages": [{"role": "human", "content": huge}]})
    assert response.status_code == 413
    assert "too large" in response.json()["message"]
    assert api.get(f"/sessions/{sid}").status_code == 404


def test_empty_query_values_mean_not_given(api: httpx.Client) -> None:
    assert api.get("/sessions?limit=&cursor=").status_code == 200
    assert api.get("/user?limit=&cursor=").status_code == 200


def test_non_integer_query_values_are_400_never_422(api: httpx.Client, sid: str) -> None:
    for path in (
        "/sessions?limit=ten",
        "/sessions?cursor=1.5",
        "/user?limit=x",
        f"/sessions/{sid}/memory?lastn=abc",
        f"/sessions/{sid}/messages?limit=abc",
        f"/sessions/{sid}/messages?cursor=-1",
        "/sessions?limit=-1",
        f"/sessions/{sid}/memory?lastn=-3",
        "/sessions?after=not-a-cursor",
    ):
        response = api.get(path)
        assert response.status_code == 400, path
        assert response.json()["message"].startswith("bad request"), path


def test_errors_are_json_objects_with_a_message(api: httpx.Client) -> None:
    response = api.post("/sessions", content=b"not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert "not valid JSON" in response.json()["message"]
