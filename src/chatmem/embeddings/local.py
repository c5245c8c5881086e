"""Local embeddings on ONNX Runtime: no PyTorch, no GPU stack, nothing fetched for the packaged model.

The model's graph is built from its files at load (``bert_onnx``), once per process and model however
many workers and searches use it; the tokenizer is the model's own ``tokenizer.json`` run by the
``tokenizers`` library, as sentence-transformers runs it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chatmem.embeddings import bert_onnx, models
from chatmem.embeddings.base import ModelUnavailableError

log = logging.getLogger("chatmem.embeddings")

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

# Part of every cache key: bump it when ``bert_onnx.build`` changes the graph it writes.
GRAPH_FORMAT = 2
_CHUNK = 1 << 20


def load(directory: Path, cache_dir: Path | None = None) -> LoadedModel:
    """The model in ``directory``, converted and loaded once per process; with ``cache_dir``, the
    converted graph is kept there for the next process (``graph_cache``)."""
    with _loaded_lock:
        if directory not in _loaded:
            _loaded[directory] = _load(directory, cache_dir)
        return _loaded[directory]


def _load(directory: Path, cache_dir: Path | None) -> LoadedModel:
    from tokenizers import Tokenizer

    try:
        spec = bert_onnx.read_spec(directory)
        session = _session(directory, spec, cache_dir)
    except bert_onnx.UnsupportedModelError as exc:
        raise ModelUnavailableError(str(exc)) from exc
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()  # padding is per length-sorted batch, below
    tokenizer.enable_truncation(spec.max_length)
    pad = tokenizer.padding or {}
    pad_id = int(pad.get("pad_id", tokenizer.token_to_id("[PAD]") or 0))
    return LoadedModel(session, tokenizer, spec.hidden, pad_id)


def _options(level: Any) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = level
    options.log_severity_level = 3  # ORT's warnings about unused initializers are noise here
    # One thread, the caller's, and no spinning: ORT's default pool of a thread per core busy-waits after
    # every run, and in a server process it took the CPU the requests needed (docs/benchmarks.md).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _session(directory: Path, spec: bert_onnx.BertSpec, cache_dir: Path | None) -> Any:
    """An ONNX Runtime session for the model: from the graph cache when it holds a verified graph for
    this model and this ONNX Runtime, otherwise built from the model's files (and cached)."""
    import onnxruntime

    level = onnxruntime.GraphOptimizationLevel
    providers = ["CPUExecutionProvider"]
    if cache_dir is None:
        return onnxruntime.InferenceSession(
            _graph(directory, spec), _options(level.ORT_ENABLE_ALL), providers=providers
        )
    entry = graph_cache(directory, cache_dir)
    if entry.verified():
        try:
            return onnxruntime.InferenceSession(
                str(entry.graph), _options(level.ORT_ENABLE_ALL), providers=providers
            )
        except Exception:  # a file that hashes right but ORT refuses: rebuilt below, never trusted
            log.warning(
                "the cached ONNX graph %s could not be loaded; rebuilding it", entry.graph, exc_info=True
            )
    graph = _graph(directory, spec)
    try:
        entry.write(graph)
    except OSError as exc:  # a read-only data directory costs the next start its build, nothing more
        log.warning("could not cache the ONNX graph in %s: %s", cache_dir, exc)
        return onnxruntime.InferenceSession(graph, _options(level.ORT_ENABLE_ALL), providers=providers)
    return onnxruntime.InferenceSession(str(entry.graph), _options(level.ORT_ENABLE_ALL), providers=providers)


def _graph(directory: Path, spec: bert_onnx.BertSpec) -> bytes:
    """The model's graph, with ONNX Runtime's transformer fusions applied where its patterns match
    (bias + GELU, residual add + layer norm: about 8 % less time per batch on the CPU, same vectors to
    1e-7). A graph the fusion tool cannot handle is used as built."""
    graph = bert_onnx.build(directory)
    try:
        import onnx
        from onnxruntime.transformers import optimizer  # type: ignore[import-untyped]

        # It warns that the graph's producer is not PyTorch's exporter: true, and harmless here.
        quiet = logging.getLogger("onnxruntime.transformers")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            fused = optimizer.optimize_model(
                onnx.load_from_string(graph),
                model_type="bert",
                num_heads=spec.heads,
                hidden_size=spec.hidden,
                opt_level=0,
            )
        finally:
            quiet.setLevel(level)
        return bytes(fused.model.SerializeToString())
    except Exception:
        log.warning(
            "ONNX Runtime's transformer fusions failed on %s; using the graph as built", directory.name
        )
        return graph


@dataclass(frozen=True, slots=True)
class GraphCacheEntry:
    """One cached graph: ``graph`` (an ONNX file, optimized by ONNX Runtime to its hardware-independent
    level) and ``digest`` (the SHA-256 of that file). The file names carry the cache key, the SHA-256
    of the model's files, the ONNX Runtime version, the machine and ``GRAPH_FORMAT``, so a graph of
    another model version, runtime or builder is never picked up; the digest catches a file changed
    or cut short after it was written."""

    graph: Path
    digest: Path

    def verified(self) -> bool:
        try:
            expected = self.digest.read_text().strip()
            return bool(expected) and _sha256(self.graph) == expected
        except OSError:
            return False

    def write(self, graph: bytes) -> None:
        """Optimize ``graph`` into the cache: temporary files renamed into place (atomic; concurrent
        writers of one key write the same content), the graph before its digest."""
        import onnxruntime

        directory = self.graph.parent
        directory.mkdir(parents=True, exist_ok=True)
        prefix = self.graph.name.removesuffix(".onnx")
        model, _key = prefix.rsplit("-", 1)
        older = re.compile(rf"{re.escape(model)}-[0-9a-f]{{32}}\.(onnx|sha256)")
        for stale in directory.iterdir():
            if older.fullmatch(stale.name) and not stale.name.startswith(prefix):
                stale.unlink(missing_ok=True)  # the same model under an older key
        fd, name = tempfile.mkstemp(prefix=f".{prefix}.", suffix=".onnx", dir=directory)
        os.close(fd)
        partial = Path(name)
        try:
            options = _options(onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
            options.optimized_model_filepath = str(partial)
            onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            with partial.open("rb") as written:
                os.fsync(written.fileno())
            digest = _sha256(partial)
            os.replace(partial, self.graph)
            _write_atomically(self.digest, digest + "\n")
        finally:
            partial.unlink(missing_ok=True)


def graph_cache(directory: Path, cache_dir: Path) -> GraphCacheEntry:
    """Where the graph of the model in ``directory`` is cached for this ONNX Runtime."""
    import onnxruntime

    key = hashlib.sha256()
    key.update(f"{GRAPH_FORMAT}\0{onnxruntime.__version__}\0{platform.machine()}\0".encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        key.update(f"{path.relative_to(directory).as_posix()}\0{_sha256(path)}\0".encode())
    name = "".join(c if c.isalnum() or c in "._" else "_" for c in directory.name)
    stem = f"{name}-{key.hexdigest()[:32]}"
    return GraphCacheEntry(cache_dir / f"{stem}.onnx", cache_dir / f"{stem}.sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


# Under the models directory ($CHATMEM_DATA_DIR/models): converted graphs, one per model and runtime.
GRAPH_CACHE = "onnx"


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
        return load(self.path(), self._models_dir / GRAPH_CACHE)

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
