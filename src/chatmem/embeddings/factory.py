"""The configured provider, and the one line the startup log gives about it."""

from __future__ import annotations

from chatmem.config import Settings
from chatmem.embeddings.base import Embedder
from chatmem.embeddings.local import LocalEmbedder
from chatmem.embeddings.openai import OPENAI_MODEL, OpenAIEmbedder
from chatmem.embeddings.openai_http import OpenAIClient


def openai_client(settings: Settings, base_url: str = "") -> OpenAIClient:
    return OpenAIClient(
        base_url or settings.openai_base_url,
        settings.openai_api_key,
        api_version=settings.openai_api_version,
        timeout=settings.openai_timeout_seconds,
    )


def make_embedder(settings: Settings) -> Embedder | None:
    """The configured provider, or None when embeddings are off. ``auto`` is ``local``: the packaged
    model is always there."""
    if settings.embeddings == "off":
        return None
    if settings.embeddings == "openai":
        client = openai_client(settings, settings.openai_embeddings_base_url)
        return OpenAIEmbedder(client, settings.embeddings_model, batch_size=settings.embeddings_batch_size)
    return LocalEmbedder(
        settings.embeddings_model,
        batch_size=settings.embeddings_batch_size,
        models_dir=settings.data_dir / "models",
        hub_url=settings.embeddings_hub_url,
    )


def describe(settings: Settings) -> str:
    """Which embedder and model are configured, or why there is none (for the startup log). Builds
    no provider: with preload off nothing is loaded before the first search or job."""
    if settings.embeddings == "off":
        return "embeddings off (CHATMEM_EMBEDDINGS=off): similarity and mmr searches answer 400"
    if settings.embeddings == "openai":
        base = settings.openai_embeddings_base_url or settings.openai_base_url
        model = settings.embeddings_model or OPENAI_MODEL
        return f"embeddings: openai-compatible endpoint {base}, model {model}"
    local = LocalEmbedder(
        settings.embeddings_model,
        models_dir=settings.data_dir / "models",
        hub_url=settings.embeddings_hub_url,
    )
    return f"embeddings: local (ONNX Runtime), model {local.model}, {local.source()}"


def prepare(settings: Settings) -> str:
    """Before serving: fetch the local model if it is a hub model not cached yet, so that a machine
    that cannot get it fails at start with the reason (ModelUnavailableError), not at the first search.
    Returns the startup log line."""
    embedder = make_embedder(settings)
    if isinstance(embedder, LocalEmbedder):
        embedder.path()
    return describe(settings)
