"""A second, tiny BERT sentence model made here (random weights, the packaged tokenizer), and a local
stand-in for the Hugging Face Hub that serves it: the real fetch code runs against it."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from chatmem.embeddings.models import packaged_path

TINY_REPO = "chatmem-tests/tiny-bert"
TINY = {"hidden": 32, "heads": 4, "layers": 2, "intermediate": 64}


def make_tiny_model(directory: Path, seed: int = 7) -> Path:
    """A 2-layer, 32-wide BERT with mean pooling and normalization (a different model, different width)."""
    rng = np.random.default_rng(seed)
    hidden, inter = TINY["hidden"], TINY["intermediate"]
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(packaged_path() / "tokenizer.json", directory / "tokenizer.json")
    config = {
        "model_type": "bert",
        "hidden_size": hidden,
        "num_attention_heads": TINY["heads"],
        "num_hidden_layers": TINY["layers"],
        "intermediate_size": inter,
        "max_position_embeddings": 128,
        "vocab_size": 30522,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "modules.json").write_text(
        json.dumps([{"type": "sentence_transformers.models.Pooling"}, {"type": "x.models.Normalize"}])
    )

    def w(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.2, shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": w(30522, hidden),
        "embeddings.position_embeddings.weight": w(128, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
    }
    for i in range(TINY["layers"]):
        p = f"encoder.layer.{i}"
        for name, rows, cols in (
            ("attention.self.query", hidden, hidden),
            ("attention.self.key", hidden, hidden),
            ("attention.self.value", hidden, hidden),
            ("attention.output.dense", hidden, hidden),
            ("intermediate.dense", inter, hidden),
            ("output.dense", hidden, inter),
        ):
            tensors[f"{p}.{name}.weight"] = w(rows, cols)
            tensors[f"{p}.{name}.bias"] = w(rows)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{p}.{norm}.weight"] = np.ones(hidden, np.float32)
            tensors[f"{p}.{norm}.bias"] = np.zeros(hidden, np.float32)
    save_file(tensors, str(directory / "model.safetensors"))
    return directory


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-bert")


class _Hub(http.server.SimpleHTTPRequestHandler):
    """GET /{owner}/{name}/resolve/main/{file} -> {root}/{owner}/{name}/{file}, 404 otherwise."""

    def translate_path(self, path: str) -> str:
        return super().translate_path(path.replace("/resolve/main/", "/", 1))

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[str]:
    """A hub serving TINY_REPO on a loopback port: its base URL."""
    root = tmp_path_factory.mktemp("hub")
    shutil.copytree(tiny_model, root / TINY_REPO)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Hub, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
