"""Each session's vectors as one in-memory float32 matrix, so exact search stops re-reading every blob.

Exact ranking (SQLite, or PostgreSQL without pgvector) used to read all of a scope's vectors out of the
database on every query, nearly all of the time spent fetching blobs, not on arithmetic (docs/search.md
has the figures). A block is keyed by (embedding table, session pk, model, width) and tagged with
the session's ``vectors_version``, which every transaction writing that session's vectors bumps; the
search reads the version together with its scope (no extra statement), so a block is never served
after any process changed the vectors. Session pks are never reused (AUTOINCREMENT on SQLite, an
identity on PostgreSQL), so a (pk, version) pair names one content for the life of the database.

Deleted rows need no invalidation: a block holds a session's vectors in key order and a query slices
off those at or below the session's current ``floor_seq``. Memory is bounded by ``max_bytes``; the
least recently used block goes first. With ``max_bytes`` 0 every query loads its blocks afresh.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from chatmem.search.targets import LiveSession, Target

FloatArray = np.ndarray[Any, np.dtype[np.float32]]
KeyArray = np.ndarray[Any, np.dtype[np.int64]]
_BlockKey = tuple[str, int, str, int]
# Sessions whose vectors one query reads (an IN list well under SQLite's bound parameter limit).
LOAD_CHUNK = 500


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

    def blocks(
        self,
        conn: sa.Connection,
        target: Target,
        tenant_id: int,
        sessions: Sequence[LiveSession],
        model: str,
        dims: int,
    ) -> list[Block]:
        """Each session's block, in the order given: from memory when its version is current, the
        others read in one query per ``LOAD_CHUNK`` sessions."""
        found: dict[int, Block] = {}
        with self._lock:
            for session in sessions:
                key = (target.embeddings.name, session.pk, model, dims)
                entry = self._blocks.get(key)
                if entry is not None and entry[0] == session.vectors_version:
                    self._blocks.move_to_end(key)
                    found[session.pk] = entry[1]
        missing = [session for session in sessions if session.pk not in found]
        # Loaded outside the lock: two threads may load the same block once each, never wait on each other.
        for start in range(0, len(missing), LOAD_CHUNK):
            chunk = missing[start : start + LOAD_CHUNK]
            loaded = load(conn, target, tenant_id, [session.pk for session in chunk], model, dims)
            for session in chunk:
                block = loaded.get(session.pk, _empty(dims))
                found[session.pk] = block
                if block.nbytes <= self.max_bytes:
                    self._store(
                        (target.embeddings.name, session.pk, model, dims), session.vectors_version, block
                    )
        return [found[session.pk] for session in sessions]

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


def load(
    conn: sa.Connection, target: Target, tenant_id: int, session_pks: Sequence[int], model: str, dims: int
) -> dict[int, Block]:
    """All stored vectors of these sessions and this model, deleted ones included, each in key order."""
    emb = target.embeddings
    key = target.embedding_key
    rows = conn.execute(
        sa.select(emb.c.session_pk, key, emb.c.vector)
        .where(
            emb.c.tenant_id == tenant_id,
            emb.c.session_pk.in_(session_pks),
            emb.c.model == model,
            emb.c.dimensions == dims,
        )
        .order_by(emb.c.session_pk, key)
    ).all()
    blocks: dict[int, Block] = {}
    for pk, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        run = list(group)
        keys = np.fromiter((row[1] for row in run), dtype=np.int64, count=len(run))
        matrix = np.frombuffer(b"".join(row[2] for row in run), dtype="<f4").reshape(len(run), dims)
        blocks[pk] = Block(keys, matrix)
    return blocks


def _empty(dims: int) -> Block:
    return Block(np.empty(0, dtype=np.int64), np.empty((0, dims), dtype=np.float32))
