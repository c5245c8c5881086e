"""Where a local model's files come from: shipped inside chatmem (all-MiniLM-L6-v2), a directory on
disk, or a Hugging Face Hub repository fetched once into the data directory.

A fetch happens only for a model that is neither packaged nor cached, and fails at once with a clear
message when the hub cannot be reached (an offline machine): connecting is bounded by
``CONNECT_TIMEOUT``, and files are written to a temporary directory that is renamed into place only
when complete, so an interrupted fetch is started again rather than half-used.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import httpx

from chatmem.embeddings.base import ModelUnavailableError

log = logging.getLogger("chatmem.embeddings")

PACKAGED_MODEL = "all-MiniLM-L6-v2"
# Short names for BERT sentence models the local provider runs (any other "owner/name" works too,
# if it is a BERT model with mean or CLS pooling).
KNOWN_MODELS = {
    "all-MiniLM-L12-v2": "sentence-transformers/all-MiniLM-L12-v2",
    "multi-qa-MiniLM-L6-cos-v1": "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
    "paraphrase-MiniLM-L3-v2": "sentence-transformers/paraphrase-MiniLM-L3-v2",
    "bge-small-en-v1.5": "BAAI/bge-small-en-v1.5",
}
REQUIRED_FILES = ("config.json", "tokenizer.json", "model.safetensors")
OPTIONAL_FILES = ("modules.json", "sentence_bert_config.json", "1_Pooling/config.json")
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


def packaged_path() -> Path:
    return Path(str(resources.files("chatmem.embeddings") / "models" / PACKAGED_MODEL))


def is_packaged(name: str) -> bool:
    return name == PACKAGED_MODEL


def repository(name: str) -> str | None:
    """The hub repository a model name means, or None for the packaged model and paths on disk."""
    if is_packaged(name) or Path(name).expanduser().is_dir():
        return None
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return name
    return None


def cached_path(models_dir: Path, repo: str) -> Path:
    return models_dir / repo.replace("/", "--")


def locate(name: str, models_dir: Path) -> Path | None:
    """The model's directory if it is on disk already (packaged, a path, or fetched before)."""
    if is_packaged(name):
        return packaged_path()
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    repo = repository(name)
    if repo is not None and _complete(cached_path(models_dir, repo)):
        return cached_path(models_dir, repo)
    return None


def ensure(name: str, models_dir: Path, hub_url: str) -> Path:
    """The model's directory, fetched from the hub first if need be (ModelUnavailableError if not)."""
    found = locate(name, models_dir)
    if found is not None:
        return found
    repo = repository(name)
    if repo is None:
        raise ModelUnavailableError(
            f"embedding model {name!r} is neither packaged ({PACKAGED_MODEL}), a model directory on "
            f"disk, nor a hub repository name (owner/name or one of {', '.join(sorted(KNOWN_MODELS))})"
        )
    return fetch(repo, models_dir, hub_url)


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in REQUIRED_FILES)


def fetch(repo: str, models_dir: Path, hub_url: str) -> Path:
    target = cached_path(models_dir, repo)
    base = f"{hub_url.rstrip('/')}/{repo}/resolve/main/"
    log.info("fetching embedding model %s from %s into %s", repo, hub_url, target)
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=models_dir))
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            for name in (*REQUIRED_FILES, *OPTIONAL_FILES):
                _download(client, base + name, partial / name, required=name in REQUIRED_FILES)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    except httpx.HTTPError as exc:
        raise ModelUnavailableError(
            f"embedding model {repo} is not in {models_dir} and could not be fetched from {hub_url} "
            f"({type(exc).__name__}: {exc}). Offline? Use the packaged {PACKAGED_MODEL}, or copy the "
            "model directory to this machine and set CHATMEM_EMBEDDINGS_MODEL to its path."
        ) from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _download(client: httpx.Client, url: str, path: Path, *, required: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with client.stream("GET", url) as response:
        if response.status_code == 404 and not required:
            return
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"GET {url}: HTTP {response.status_code}", request=response.request, response=response
            )
        with path.open("wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
