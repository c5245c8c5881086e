"""Token counts with tiktoken's ``cl100k_base``, as Zep counted them, without any download.

tiktoken fetches its encoding files from the internet on first use. The ``bpe-openai`` package ships the
same ``cl100k_base`` ranks file; we load it from there, check it against the hash tiktoken itself pins,
and build the encoding directly (without importing ``bpe_openai``: see ``_ranks_file``), so counting works
on an offline machine.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import importlib.util
import threading
from pathlib import Path

import tiktoken

# tiktoken_ext.openai_public.cl100k_base: the expected hash of the ranks file, the split pattern and
# the special tokens. Repeated here so that nothing in tiktoken tries to reach the network.
_CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def _ranks_file() -> Path:
    """bpe-openai's copy of the ranks file, found without importing the package: its ``__init__``
    decodes every encoding it ships (cl100k, o200k, voyage3), which took 3 s of a worker's start on an
    idle machine and 13 s under load, for ranks it then throws away."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the bpe-openai package (cl100k_base ranks) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "cl100k_base.tiktoken.gz"


def _load_cl100k() -> tiktoken.Encoding:
    packed = _ranks_file().read_bytes()
    raw = gzip.decompress(packed)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _CL100K_SHA256:
        raise RuntimeError(f"cl100k_base ranks shipped by bpe-openai have an unexpected hash {digest}")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }
    return tiktoken.Encoding(
        name="cl100k_base", pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL
    )


def encoding() -> tiktoken.Encoding:
    """The process-wide ``cl100k_base`` encoding (loaded once, about 0.3 s)."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = _load_cl100k()
    return _encoding


def count_text(text: str) -> int:
    # disallowed_special=() : a message that happens to contain "<|endoftext|>" is text, not an error.
    return len(encoding().encode(text, disallowed_special=()))


def count_message(role: str, content: str) -> int:
    """Zep's count for a message: the tokens of ``"{role}: {content}"``."""
    return count_text(f"{role}: {content}")


def count_messages(pairs: list[tuple[str, str]]) -> list[int]:
    texts = [f"{role}: {content}" for role, content in pairs]
    # One by one on purpose: encode_batch starts a pool of eight threads per call, which for the few
    # messages of a job costs more than it saves, and its threads contend for the GIL with the server.
    # tiktoken releases the GIL while it encodes.
    enc = encoding()
    return [len(enc.encode(text, disallowed_special=())) for text in texts]
