"""Local embeddings on ONNX Runtime: no PyTorch, no GPU stack, nothing fetched for the packaged model.

The model's graph is built from its files at load (``bert_onnx``), once per process and model however
many workers and searches use it; the tokenizer is the model's own ``tokenizer.json`` run by the
``tokenizers`` library, as sentence-transformers runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chatmem.embeddings import bert_onnx, models
from chatmem.embeddings.base import ModelUnavailableError

FloatMatrix = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True, slots=True)
class LoadedModel:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    dimensions: int
    pad_id: int


CHARS_PER_TOKEN = 64

_loaded: dict[Path, LoadedModel] = {}
_loaded_lock = threading.Lock()


def load(directory: Path) -> LoadedModel:
    """The model in ``directory``, converted and loaded once per process."""
    with _loaded_lock:
        if directory not in _loaded:
            _loaded[directory] = _load(directory)
        return _loaded[directory]


def _load(directory: Path) -> LoadedModel:
    import onnxruntime
    from tokenizers import Tokenizer

    try:
        spec = bert_onnx.read_spec(directory)
        graph = bert_onnx.build(directory)
    except bert_onnx.UnsupportedModelError as exc:
        raise ModelUnavailableError(str(exc)) from exc
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # ORT's warnings about unused initializers are noise here
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()  # padding is per length-sorted batch, below
    tokenizer.enable_truncation(spec.max_length)
    pad = tokenizer.padding or {}
    pad_id = int(pad.get("pad_id", tokenizer.token_to_id("[PAD]") or 0))
    return LoadedModel(session, tokenizer, spec.hidden, pad_id)


class LocalEmbedder:
    """A BERT sentence model on the CPU: the packaged all-MiniLM-L6-v2 by default, or another model by
    hub name (fetched once into ``models_dir``) or by directory path."""

    def __init__(
        self,
        name: str = "",
        *,
        batch_size: int = 64,
        models_dir: Path | None = None,
        hub_url: str = "https://huggingface.co",
    ) -> None:
        self._name = name or models.PACKAGED_MODEL
        self.batch_size = batch_size
        self._models_dir = models_dir or Path.home() / ".cache" / "chatmem" / "models"
        self._hub_url = hub_url

    @property
    def model(self) -> str:
        return self._name

    def path(self) -> Path:
        """The model's directory, fetched first if it is a hub model not cached yet."""
        return models.ensure(self._name, self._models_dir, self._hub_url)

    def source(self) -> str:
        """Where the model's files are (or will come from), for the startup log."""
        if models.is_packaged(self._name):
            return "packaged with chatmem"
        found = models.locate(self._name, self._models_dir)
        if found is not None:
            return f"from {found}"
        return f"fetched from {self._hub_url} on first use into {self._models_dir}"

    def load(self) -> LoadedModel:
        return load(self.path())

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        loaded = self.load()
        out = np.empty((len(texts), loaded.dimensions), dtype=np.float32)
        if not texts:
            return out
        # The model reads at most max_length tokens. Cutting each text first keeps the tokenizer from
        # holding the GIL (and so the server's event loop) for a tenth of a second on a 2 MB message;
        # the tokens differ only if the first max_length of them span over CHARS_PER_TOKEN characters
        # each on average (runs of thousands of spaces, or words of hundreds of letters).
        limit = CHARS_PER_TOKEN * int(loaded.tokenizer.truncation["max_length"])
        encodings = loaded.tokenizer.encode_batch([text[:limit] for text in texts])
        # Batches of similar length waste little on padding (sentence-transformers sorts the same way).
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), loaded.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[j, :n] = encodings[i].ids
                mask[j, :n] = 1
            (vectors,) = loaded.session.run(None, {"input_ids": ids, "attention_mask": mask})
            out[rows] = vectors
        return out
