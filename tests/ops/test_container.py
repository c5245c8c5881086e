"""The container files, as far as this machine can check them without a container daemon: the
entrypoint and health check scripts run for real against a live chatmem; the settings the Dockerfile
and compose.yaml set are real settings; ``docker compose config`` validates compose.yaml where the
compose plugin exists."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from chatmem.config import Settings
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
SETTINGS = {f"CHATMEM_{name.upper()}" for name in Settings.model_fields}


def image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's last stage."""
    final = DOCKERFILE.split("\nFROM ")[-1]
    env: dict[str, str] = {}
    for block in re.findall(r"^ENV ((?:.*\\\n)*.*)$", final, flags=re.M):
        env.update(re.findall(r"(\w+)=(\S+)", block.replace("\\\n", " ")))
    return env


def test_the_image_is_multi_stage_non_root_and_probes_readiness() -> None:
    assert len(re.findall(r"^FROM ", DOCKERFILE, flags=re.M)) >= 2
    final = DOCKERFILE.split("\nFROM ")[-1]
    user = re.findall(r"^USER (\S+)", final, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*healthcheck\.py", final, flags=re.M)
    assert "/readyz" in HEALTHCHECK.read_text()
    assert 'ENTRYPOINT ["chatmem-entrypoint"]' in final and 'CMD ["serve"]' in final
    assert "pip install ." in DOCKERFILE and "torch" not in DOCKERFILE.replace("no torch", "")


def test_the_settings_the_image_and_compose_set_exist() -> None:
    env = image_env()
    assert env["CHATMEM_HOST"] == "0.0.0.0"
    assert env["CHATMEM_DATA_DIR"] == "/data"
    assert env["CHATMEM_LOG_FORMAT"] == "json"
    compose_env = {k for service in COMPOSE["services"].values() for k in service.get("environment", {})}
    env_file = (ROOT / "deploy.env.example").read_text()
    example = set(re.findall(r"^#? ?(CHATMEM_\w+)=", env_file, flags=re.M))
    named = {name for name in {*env, *compose_env, *example} if name.startswith("CHATMEM_")}
    unknown = sorted(named - SETTINGS)
    assert unknown == []
    # Each value parses as the setting it names.
    values: dict[str, Any] = {
        k.removeprefix("CHATMEM_").lower(): v for k, v in env.items() if k.startswith("CHATMEM_")
    }
    Settings(**values)


def test_compose_runs_api_servers_a_worker_and_pgvector() -> None:
    services = COMPOSE["services"]
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert services["chatmem"]["command"] == ["serve"]
    assert services["chatmem"]["environment"]["CHATMEM_ENRICH_WORKERS"] == "0"
    assert services["worker"]["command"][0] == "worker"
    for name in ("chatmem", "worker"):
        assert services[name]["env_file"] == "deploy.env"
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["db"]["env_file"] == "deploy.env"
    # Secrets come from the env file, never from compose.yaml itself.
    assert "PASSWORD" not in (ROOT / "compose.yaml").read_text()
    assert "deploy.env" in (ROOT / ".gitignore").read_text().split()


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(
            f"the docker CLI has no compose plugin here: {probe.stderr.strip() or probe.stdout.strip()}"
        )
    (tmp_path / "compose.yaml").write_text((ROOT / "compose.yaml").read_text())
    shutil.copy(ROOT / "deploy.env.example", tmp_path / "deploy.env")
    result = subprocess.run(
        [docker, "compose", "-f", str(tmp_path / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def entrypoint_env(tmp_path: Path, port: int) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHATMEM_")}
    return clean | {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "CHATMEM_DATA_DIR": str(tmp_path),
        "CHATMEM_HOST": "127.0.0.1",
        "CHATMEM_PORT": str(port),
        "CHATMEM_EMBEDDINGS": "off",
        "CHATMEM_LOG_FORMAT": "json",
    }


def health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=30
    )


def test_entrypoint_serves_by_default_and_the_health_check_follows_readiness(tmp_path: Path) -> None:
    port = free_port()
    env = entrypoint_env(tmp_path, port)
    assert health(env).returncode == 1  # nothing listens yet
    version = subprocess.run(["sh", str(ENTRYPOINT), "--version"], env=env, capture_output=True, text=True)
    assert version.returncode == 0 and "chatmem" in version.stdout
    passthrough = subprocess.run(
        ["sh", str(ENTRYPOINT), "echo", "as given"], env=env, capture_output=True, text=True
    )
    assert passthrough.stdout == "as given\n"

    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(["sh", str(ENTRYPOINT)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while health(env).returncode != 0:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the entrypoint's server never became ready"
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").text == "."
        # exec: the shell is replaced, so SIGTERM reaches chatmem itself and it shuts down cleanly.
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    assert '"Application shutdown complete."' in (tmp_path / "server.log").read_text()
