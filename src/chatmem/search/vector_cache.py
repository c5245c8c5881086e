"""Each session's vectors as one in-memory float32 matrix, so exact search stops re-reading every blob.

Exact ranking (SQLite, or PostgreSQL without pgvector) used to read all of a scope's vectors out of the
database on every query: on SQLite 57 ms for 10k vectors and 800 ms for 100k, nearly all of it fetching
blobs, not arithmetic. A block is keyed by (embedding table, session pk, model, width) and tagged with
the session's ``vectors_version``, which every transaction writing that session's vectors bumps; the
search reads the version together with its scope (no extra statement), so a block is never served
after any process changed the vectors. Session pks are never reused (AUTOINCREMENT on SQLite, an
identity on PostgreSQL), so a (pk, version) pair names one content for the life of the database.

Deleted rows need no invalidation: a block holds a session's vectors in key order and a query slices
off those at or below the session's current ``floor_seq``. Memory is bounded by ``max_bytes``; the
least recently used block goes first. With ``max_bytes`` 0 every query loads its blocks afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from chatmem.search.targets import Target

FloatArray = np.ndarray[Any, np.dtype[np.float32]]
KeyArray = np.ndarray[Any, np.dtype[np.int64]]
_BlockKey = tuple[str, int, str, int]


@dataclass(frozen=True, slots=True)
class Block:
    """One session's vectors of one model: ``keys`` ascending, row i of ``matrix`` belongs to keys[i]."""

    keys: KeyArray
    matrix: FloatArray

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.matrix.nbytes)

    def above(self, floor: int) -> Block:
        """The rows with a key above ``floor`` (the live ones): a view, nothing copied."""
        start = int(np.searchsorted(self.keys, floor, side="right"))
        return Block(self.keys[start:], self.matrix[start:])


class VectorCache:
    """Thread-safe LRU of blocks, bounded in bytes; one per server process and database."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._blocks: OrderedDict[_BlockKey, tuple[int, Block]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def block(
        self, conn: sa.Connection, target: Target, session_pk: int, version: int, model: str, dims: int
    ) -> Block:
        key = (target.embeddings.name, session_pk, model, dims)
        with self._lock:
            entry = self._blocks.get(key)
            if entry is not None and entry[0] == version:
                self._blocks.move_to_end(key)
                return entry[1]
        # Loaded outside the lock: two threads may load the same block once each, never wait on each other.
        block = load(conn, target, session_pk, model, dims)
        if block.nbytes <= self.max_bytes:
            self._store(key, version, block)
        return block

    def _store(self, key: _BlockKey, version: int, block: Block) -> None:
        with self._lock:
            old = self._blocks.pop(key, None)
            if old is not None:
                self._bytes -= old[1].nbytes
            if old is not None and old[0] > version:
                # A slower thread loaded an older version: keep the newer block.
                self._blocks[key] = old
                self._bytes += old[1].nbytes
                return
            self._blocks[key] = (version, block)
            self._bytes += block.nbytes
            while self._bytes > self.max_bytes:
                _key, (_version, evicted) = self._blocks.popitem(last=False)
                self._bytes -= evicted.nbytes


def load(conn: sa.Connection, target: Target, session_pk: int, model: str, dims: int) -> Block:
    """All stored vectors of one session and model, deleted ones included, in key order."""
    emb = target.embeddings
    key = target.embedding_key
    rows = conn.execute(
        sa.select(key, emb.c.vector)
        .where(emb.c.session_pk == session_pk, emb.c.model == model, emb.c.dimensions == dims)
        .order_by(key)
    ).all()
    keys = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4").reshape(len(rows), dims)
    return Block(keys, matrix)
