"""What every embedding provider offers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

# One row per text: lists of floats (remote providers) or a float32 matrix (the local model).
Vectors = Sequence[Sequence[float]] | np.ndarray[Any, np.dtype[np.float32]]


class Embedder(Protocol):
    @property
    def model(self) -> str:
        """The name stored next to every vector, so vectors of another model are never compared."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One vector (a sequence of floats) per text, in order."""
        ...


class ModelUnavailableError(RuntimeError):
    """The configured model cannot be had: not on disk, and fetching it failed (offline?) or it is
    not a model chatmem can run. The message says what to do."""
