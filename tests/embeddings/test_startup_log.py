"""The server's startup log says which embedder and model are active, or why none is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support import live_server


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "embeddings: local (ONNX Runtime), model all-MiniLM-L6-v2, packaged with chatmem"),
        ({"embeddings": "off"}, "embeddings off (CHATMEM_EMBEDDINGS=off)"),
        (
            {"embeddings": "openai", "openai_embeddings_base_url": "http://127.0.0.1:9/v1"},
            "embeddings: openai-compatible endpoint http://127.0.0.1:9/v1, model text-embedding-3-small",
        ),
        (
            {"embeddings_model": "bge-small-en-v1.5", "embeddings_hub_url": "http://127.0.0.1:9"},
            "model bge-small-en-v1.5, fetched from http://127.0.0.1:9 on first use",
        ),
    ],
)
def test_the_startup_log_names_the_embedder(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, settings: dict[str, Any], expected: str
) -> None:
    caplog.set_level(logging.INFO, logger="chatmem")
    with live_server("sqlite", tmp_path, embeddings_preload=False, data_dir=tmp_path, **settings):
        pass
    assert any(expected in record.getMessage() for record in caplog.records), caplog.text
