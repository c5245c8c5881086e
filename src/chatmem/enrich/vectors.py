"""Vectors as stored: little-endian float32 bytes, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from typing import Any


def pack(vector: Sequence[float] | Any) -> bytes:
    """float32 bytes of a list of floats or of a NumPy row (which is converted without a Python loop)."""
    if hasattr(vector, "astype"):
        return bytes(vector.astype("<f4").tobytes())
    values = array("f", vector)
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def unpack(blob: bytes) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    if sys.byteorder != "little":
        values.byteswap()
    return values.tolist()


def dimensions(vector: Sequence[float] | Any) -> int:
    return len(vector)
