"""The real zep-python 1.5.0 and LangChain clients against a chatmem with auth on: an API key and a
Zep-style JWT both work, in separate tenants; a missing or bad credential raises ``AuthError``."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import RunClient, client_runner
from tests.compat.process import ChatmemProcess, chatmem_command
from tests.support import database_url

pytestmark = pytest.mark.compat

SECRET = "compat-zep-auth-secret-0123456789abcdef0123456789"


@pytest.fixture(scope="module")
def secured(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChatmemProcess, str]]:
    work_dir = tmp_path_factory.mktemp(f"compat-auth-{backend}")
    env = {"CHATMEM_AUTH": "on", "CHATMEM_AUTH_JWT_SECRET": SECRET, "CHATMEM_EMBEDDINGS": "off"}
    with database_url(backend, work_dir) as url, ChatmemProcess(url, work_dir, env) as server:
        created = subprocess.run(
            [str(chatmem_command()), "keys", "create", "--tenant", "compat", "--role", "writer",
             "--database-url", url],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        yield server, created.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def observed(compat_python: Path, secured: tuple[ChatmemProcess, str]) -> dict[str, Any]:
    server, key = secured
    token = subprocess.run(
        [str(chatmem_command()), "token", "create", "--secret", SECRET],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    run: RunClient = client_runner(compat_python, server)
    return run("auth.py", key, token)


def test_zep_python_works_with_an_api_key_and_with_a_jwt(observed: dict[str, Any]) -> None:
    for credential in ("key", "token"):
        assert observed[credential]["contents"] == ["hello"]
    assert observed["async_key"] == ["hi"]


def test_the_key_and_the_claimless_token_act_in_their_own_tenants(observed: dict[str, Any]) -> None:
    key_users, token_users = observed["key"]["users"], observed["token"]["users"]
    assert len(key_users) == 1 and key_users[0].endswith("-key-user")
    assert len(token_users) == 1 and token_users[0].endswith("-token-user")  # the default tenant


def test_missing_or_bad_credentials_raise_auth_error(observed: dict[str, Any]) -> None:
    assert observed["refused"] == {"none": "AuthError", "bad_key": "AuthError", "bad_token": "AuthError"}


def test_langchain_history_works_with_a_key_and_a_token_and_refuses_a_bad_one(
    observed: dict[str, Any],
) -> None:
    for credential in ("langchain_key", "langchain_token"):
        run = observed[credential]
        assert run["stored"] == ["from langchain", "noted"]
        assert run["bad_error"] == "AuthError"
        assert run["after"] == ["from langchain", "noted"]
