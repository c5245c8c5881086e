"""The converted ONNX graph is cached in the data directory, so a process (a server, each of
``--workers N``, a ``chatmem worker``) after the first loads it instead of building it again; a cache
entry that is damaged or belongs to another model or runtime is rebuilt, never trusted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from chatmem.embeddings import LocalEmbedder, bert_onnx, local
from tests.embeddings.conftest import make_tiny_model

TEXTS = ["the red one, please", "I adopted a terrier last week", ""]


class Builds:
    """Counts the graph builds (bert_onnx.build) of the loads that follow."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = bert_onnx.build

        def counting(directory: Path) -> bytes:
            self.count += 1
            return real(directory)

        monkeypatch.setattr(bert_onnx, "build", counting)


def start(model: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """What a new process does: load the model (nothing loaded in this process yet) and embed."""
    monkeypatch.setattr(local, "_loaded", {})
    return LocalEmbedder(str(model), models_dir=models_dir).embed(TEXTS)


def entry(model: Path, models_dir: Path) -> local.GraphCacheEntry:
    return local.graph_cache(model, models_dir / local.GRAPH_CACHE)


@pytest.fixture
def model(tiny_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model, tmp_path / "tiny-bert"))


def test_a_second_start_loads_the_cached_graph_without_building_it(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = Builds(monkeypatch)
    first = start(model, tmp_path / "models", monkeypatch)
    assert builds.count == 1
    assert entry(model, tmp_path / "models").verified()
    second = start(model, tmp_path / "models", monkeypatch)
    assert builds.count == 1
    np.testing.assert_allclose(second, first, atol=1e-6)
    # Without a cache (no data directory) every process builds.
    monkeypatch.setattr(local, "_loaded", {})
    local.load(model)
    assert builds.count == 2


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "digest missing", "digest wrong", "empty"])
def test_a_damaged_cache_entry_is_rebuilt_not_trusted(
    damage: str, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_dir = tmp_path / "models"
    good = start(model, models_dir, monkeypatch)
    cached = entry(model, models_dir)
    data = cached.graph.read_bytes()
    if damage == "truncated":
        cached.graph.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        middle = len(data) // 2
        cached.graph.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif damage == "digest missing":
        cached.digest.unlink()
    elif damage == "digest wrong":
        cached.digest.write_text("0" * 64 + "\n")
    else:
        cached.graph.write_bytes(b"")
    builds = Builds(monkeypatch)
    again = start(model, models_dir, monkeypatch)
    assert builds.count == 1
    np.testing.assert_allclose(again, good, atol=1e-6)
    assert cached.verified() and cached.graph.read_bytes() == data
    start(model, models_dir, monkeypatch)
    assert builds.count == 1  # repaired: the next start uses it


def test_changed_model_files_get_a_new_graph_and_the_old_one_is_removed(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_dir = tmp_path / "models"
    old_vectors = start(model, models_dir, monkeypatch)
    old = entry(model, models_dir)
    make_tiny_model(model, seed=8)  # same directory, other weights: another model version
    builds = Builds(monkeypatch)
    new_vectors = start(model, models_dir, monkeypatch)
    assert builds.count == 1
    assert not np.allclose(new_vectors, old_vectors, atol=1e-3)
    monkeypatch.setattr(local, "_loaded", {})
    reference = local._load(model, None)  # built from the files, no cache involved
    np.testing.assert_allclose(
        new_vectors[:1],
        reference.session.run(
            None,
            {
                "input_ids": np.asarray([reference.tokenizer.encode(TEXTS[0]).ids], dtype=np.int64),
                "attention_mask": np.ones((1, len(reference.tokenizer.encode(TEXTS[0]).ids)), dtype=np.int64),
            },
        )[0],
        atol=1e-5,
    )
    assert not old.graph.exists() and not old.digest.exists()
    assert sorted(path.suffix for path in (models_dir / local.GRAPH_CACHE).iterdir()) == [".onnx", ".sha256"]


def test_another_onnx_runtime_version_does_not_use_the_cached_graph(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime

    models_dir = tmp_path / "models"
    start(model, models_dir, monkeypatch)
    monkeypatch.setattr(onnxruntime, "__version__", "0.0.1-other")
    builds = Builds(monkeypatch)
    start(model, models_dir, monkeypatch)
    assert builds.count == 1


def test_an_unwritable_data_directory_only_costs_the_cache(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("a file where the models directory should be")
    builds = Builds(monkeypatch)
    vectors = start(model, blocker, monkeypatch)
    assert builds.count == 1 and vectors.shape == (3, 32)
