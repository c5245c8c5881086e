"""The HTTP client for OpenAI-compatible servers (OpenAI, Azure OpenAI, Ollama, vLLM, LiteLLM, ...), used
for embeddings here and for summaries by ``chatmem.enrich``."""

from __future__ import annotations

from typing import Any

import httpx


class OpenAIError(RuntimeError):
    """The endpoint answered with an error or with a body that is not what the protocol says."""


class OpenAIClient:
    """POSTs JSON to ``{base_url}/{path}``. With ``api_version`` set it speaks Azure's dialect
    (``api-key`` header, ``api-version`` query parameter; the deployment is part of ``base_url``)."""

    def __init__(self, base_url: str, api_key: str, *, api_version: str = "", timeout: float = 60) -> None:
        headers = {"Content-Type": "application/json"}
        params: dict[str, str] = {}
        if api_version:
            params["api-version"] = api_version
            if api_key:
                headers["api-key"] = api_key
        elif api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/", headers=headers, params=params, timeout=timeout
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body)
        if response.status_code >= 400:
            raise OpenAIError(f"{path}: HTTP {response.status_code}: {response.text[:500]}")
        try:
            data = response.json()
        except ValueError as exc:
            raise OpenAIError(f"{path}: response is not JSON") from exc
        if not isinstance(data, dict):
            raise OpenAIError(f"{path}: response is not a JSON object")
        return data

    def close(self) -> None:
        self._http.close()
