"""Embedding providers: ``local`` (a BERT sentence model on ONNX Runtime, all-MiniLM-L6-v2 shipped
inside the package) and ``openai`` (any OpenAI-compatible ``/embeddings`` endpoint)."""

from chatmem.embeddings.base import Embedder, ModelUnavailableError
from chatmem.embeddings.factory import describe, make_embedder, openai_client, prepare
from chatmem.embeddings.local import LocalEmbedder
from chatmem.embeddings.openai import OpenAIEmbedder

__all__ = [
    "Embedder",
    "LocalEmbedder",
    "ModelUnavailableError",
    "OpenAIEmbedder",
    "describe",
    "make_embedder",
    "openai_client",
    "prepare",
]
