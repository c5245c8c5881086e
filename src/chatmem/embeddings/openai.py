"""Any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM, TEI...)."""

from __future__ import annotations

from collections.abc import Sequence

from chatmem.embeddings.openai_http import OpenAIClient, OpenAIError

OPENAI_MODEL = "text-embedding-3-small"


class OpenAIEmbedder:
    """``batch_size`` texts per request."""

    def __init__(self, client: OpenAIClient, model: str = "", *, batch_size: int = 64) -> None:
        self._client = client
        self._model = model or OPENAI_MODEL
        self.batch_size = batch_size

    @property
    def model(self) -> str:
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
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
