"""The light client: ``clients/python`` builds a wheel of the SDK alone, which installs into a bare
virtual environment with httpx and pydantic as its only dependencies and talks to a live server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import chatmem
from tests.support import LiveServer

# Building a wheel and a venv takes a while on a busy machine; it happens once per run.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = [
    "chatmem",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "numpy",
    "tiktoken",
]

SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib.util, json, sys
    from importlib.metadata import distributions
    from chatmem_client import Memory, Message, NotFoundError, Session, ZepClient, __version__

    url, sid, server_only = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with ZepClient(url) as client:
        client.memory.add_session(Session(session_id=sid, metadata={"light": True}))
        client.memory.add_memory(sid, Memory(messages=[Message(role="human", content="hi")]))
        try:
            client.memory.get_session("no-such-" + sid)
            missing = None
        except NotFoundError as exc:
            missing = exc.status_code

    async def read():
        async with ZepClient(url) as client:
            return await client.memory.aget_memory(sid)

    memory = asyncio.run(read())
    print(json.dumps({
        "version": __version__,
        "contents": [m.content for m in memory.messages],
        "missing": missing,
        "importable": [name for name in server_only if importlib.util.find_spec(name) is not None],
        "installed": sorted(d.metadata["Name"].lower() for d in distributions()),
    }))
    """
)


def closure(names: list[str]) -> set[str]:
    """``names`` and every distribution they require (in this interpreter), recursively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def copy_installed(name: str, site_packages: Path) -> None:
    """Put the distribution ``name`` of this interpreter into ``site_packages``, as installed."""
    dist = metadata.distribution(name)
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if source.is_file() and not str(file).startswith(".."):
            (site_packages / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, site_packages / file)


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the built chatmem-client wheel and, copied from this
    environment (no index, no network), just the distributions its metadata requires."""
    tmp = tmp_path_factory.mktemp("light")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist")]
    subprocess.run([*build, str(ROOT / "clients/python")], check=True)
    (wheel,) = (tmp / "dist").glob("chatmem_client-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = (venv / "lib").glob("python3*/site-packages")
    # This venv's pip works on the new one (--python), which needs no pip of its own.
    target = [*pip, "--python", str(venv / "bin/python")]
    subprocess.run([*target, "install", "--no-deps", "--no-index", str(wheel)], check=True)
    (client,) = metadata.distributions(name="chatmem-client", path=[str(site_packages)])
    requires = [Requirement(spec).name for spec in client.requires or []]
    assert sorted(requires) == ["httpx", "pydantic"]
    for name in closure(requires):
        copy_installed(name, site_packages)
    subprocess.run([*target, "check"], check=True)  # every requirement of what is there is met
    return venv


def test_the_light_client_works_without_the_servers_dependencies(
    light_venv: Path, shared_server: LiveServer, sid: str
) -> None:
    result = subprocess.run(
        [str(light_venv / "bin/python"), "-c", SCRIPT, shared_server.url, sid, json.dumps(SERVER_ONLY)],
        capture_output=True,
        text=True,
        check=True,
        cwd=light_venv,  # not the checkout: its src/ must not be on the path
    )
    report = json.loads(result.stdout)
    assert report["version"] == chatmem.__version__
    assert report["contents"] == ["hi"]
    assert report["missing"] == 404
    assert report["importable"] == []
    installed = {canonicalize_name(name) for name in report["installed"]}
    assert installed == {"chatmem-client"} | closure(["httpx", "pydantic"])
