"""Latency of search: a 10k-message session, and user search over 100k messages, next to the raw query.

Data: one user with ``--sessions`` sessions of ``--session-size`` messages (default 10 x 10,000 = 100k);
message text cycles through chitchat-dataset turns; vectors are random unit vectors of 384 dimensions
(latency does not depend on what vectors mean, and random ones are the hard case for HNSW). Queries
are embedded by the real all-MiniLM-L6-v2, inside the timed request, as in production.

Measured per database (``sqlite``; ``pgvector`` = PostgreSQL 16 + pgvector 0.6 from the pgserver wheel):
- HTTP: ``POST /sessions/{id}/search`` on session 0 (10k messages) and ``POST /user/{id}/search`` (100k),
  for similarity, text and hybrid, through a live uvicorn server.
- raw: the bare SQL the search is built on, for the same scope, without embedding or HTTP: the FTS
  query (FTS5 MATCH + bm25 / tsvector @@ + ts_rank_cd) and the vector query (pgvector ORDER BY <#>,
  exact or HNSW; on SQLite reading the scope's vectors and one NumPy matrix product), and the floor of
  exact ranking: the scope's vectors already in memory, one matrix product and a top 10 (what
  chatmem's exact search does once its per-session vector cache is warm).
Reports p50 / p99 over ``--queries`` queries after ``--warmup`` warm-up queries. Run:
``python -m bench.search_latency --db sqlite`` (and ``--db pgvector``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from bench.search_data import conversations, database, hnsw_built_after_load, load, vacuum_analyze
from chatmem.config import Settings
from chatmem.embeddings import LocalEmbedder
from chatmem.search.vectors import pg_literal
from chatmem.store import Database

QUERIES = [
    "what kind of music do you listen to",
    "my dog loves the park",
    "favorite movie this year",
    "studying for exams at college",
    "cooking dinner tonight",
    "weekend hiking trip",
    "video games with friends",
    "summer vacation at the beach",
]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def timed(call: Callable[[int], Any], count: int, warmup: int) -> dict[str, float]:
    for i in range(warmup):
        call(i)
    samples = []
    for i in range(count):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def raw_text(db: Database, session_pk: int | None, user: str, words: str) -> Callable[[int], Any]:
    def run(_i: int) -> Any:
        with db.read() as conn:
            if db.is_sqlite:
                where = (
                    f"AND rowid BETWEEN {session_pk << 32} AND {(session_pk << 32) + 0xFFFFFFFF}"
                    if session_pk is not None
                    else ""
                )
                sql = (
                    "SELECT rowid, bm25(messages_fts) s FROM messages_fts "
                    f"WHERE messages_fts MATCH :q {where} ORDER BY s LIMIT 10"
                )
                q = " OR ".join(f'"{w}"' for w in words.split())
            else:
                scope = "m.session_pk = :pk" if session_pk is not None else "s.user_id = :u"
                sql = (
                    "SELECT m.seq, ts_rank_cd(m.search_tsv, q, 1) r FROM messages m "
                    "JOIN sessions s ON s.id = m.session_pk, to_tsquery('english', :q) q "
                    f"WHERE m.search_tsv @@ q AND {scope} ORDER BY r DESC LIMIT 10"
                )
                q = " | ".join(words.split())
            return conn.execute(sa.text(sql), {"q": q, "pk": session_pk, "u": user}).all()

    return run


def raw_vector(
    db: Database, session_pk: int | None, user: str, vector: np.ndarray[Any, Any], hnsw: bool
) -> Callable[[int], Any]:
    literal = pg_literal(vector)

    def run(_i: int) -> Any:
        with db.read() as conn:
            if db.is_sqlite:
                scope = "e.session_pk = :pk" if session_pk is not None else "s.user_id = :u"
                rows = conn.execute(
                    sa.text(
                        "SELECT e.seq, e.vector FROM message_embeddings e "
                        "JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_pk "
                        f"WHERE e.tenant_id = 1 AND {scope}"
                    ),
                    {"pk": session_pk, "u": user},
                ).all()
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
                return np.argpartition(-(matrix @ vector), 10)[:10]
            if hnsw:
                conn.exec_driver_sql("SET LOCAL hnsw.ef_search = 200")
                sql = (
                    "SELECT seq FROM message_vectors WHERE dims = 384 "
                    "ORDER BY embedding::vector(384) <#> CAST(:v AS vector(384)) LIMIT 10"
                )
            else:
                sql = (
                    "SELECT seq FROM message_vectors WHERE session_pk = :pk "
                    "ORDER BY embedding <#> CAST(:v AS vector) LIMIT 10"
                )
            return conn.execute(sa.text(sql), {"v": literal, "pk": session_pk}).all()

    return run


def raw_matrix(matrix: np.ndarray[Any, Any], vector: np.ndarray[Any, Any]) -> Callable[[int], Any]:
    """The floor of exact ranking: vectors already in memory, one matrix-vector product and a top 10."""

    def run(_i: int) -> Any:
        scores = matrix @ vector
        best = np.argpartition(-scores, 10)[:10]
        return best[np.argsort(-scores[best])]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "pgvector"], default="sqlite")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--session-size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from tests.support import LiveServer  # the benches run from a source checkout

    turns = [turn for chat in conversations(2000) for turn in chat]
    chats = [
        [turns[(s * args.session_size + i) % len(turns)] for i in range(args.session_size)]
        for s in range(args.sessions)
    ]
    rng = np.random.default_rng(1)
    total = args.sessions * args.session_size
    vectors = rng.standard_normal((total, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embedder = LocalEmbedder()
    embedder.load()
    report: dict[str, Any] = {"db": args.db, "messages": total, "session_size": args.session_size}
    with database(args.db) as db:
        started = time.perf_counter()
        with hnsw_built_after_load(db):
            load(db, "bench-user", chats, vectors, embedder.model)
        report["load_seconds"] = round(time.perf_counter() - started, 1)
        vacuum_analyze(db)
        with db.read() as conn:
            session_pk = conn.execute(
                sa.text("SELECT id FROM sessions WHERE session_id = 'bench-user-0'")
            ).scalar_one()
        settings = Settings(
            database_url=str(db.url.render_as_string(hide_password=False)),
            embeddings="local",
            enrich_workers=0,
            purge_every_minutes=0,
        )
        results: dict[str, Any] = {}
        with LiveServer(settings) as server, httpx.Client(base_url=f"{server.url}/api/v1", timeout=60) as api:
            for scope, path in (
                ("session_10k", "/sessions/bench-user-0/search"),
                ("user_100k", "/user/bench-user/search"),
            ):
                for kind in ("similarity", "text", "hybrid"):

                    def call(i: int, path: str = path, kind: str = kind) -> Any:
                        response = api.post(
                            path,
                            params={"limit": 10},
                            json={"text": QUERIES[i % len(QUERIES)], "search_type": kind},
                        )
                        assert response.status_code == 200, response.text
                        return response.json()

                    results[f"http {scope} {kind}"] = timed(call, args.queries, args.warmup)
        query_vector = np.asarray(embedder.embed([QUERIES[0]])[0], dtype=np.float32)
        words = "music listen kind"
        results["embed query (MiniLM)"] = timed(
            lambda i: embedder.embed([QUERIES[i % len(QUERIES)]]), args.queries, args.warmup
        )
        results["raw text session_10k"] = timed(
            raw_text(db, session_pk, "bench-user", words), args.queries, args.warmup
        )
        results["raw text user_100k"] = timed(
            raw_text(db, None, "bench-user", words), args.queries, args.warmup
        )
        results["raw vector session_10k"] = timed(
            raw_vector(db, session_pk, "bench-user", query_vector, False), args.queries, args.warmup
        )
        results["raw vector user_100k"] = timed(
            raw_vector(db, None, "bench-user", query_vector, True), args.queries, args.warmup
        )
        results["in-memory matrix session_10k"] = timed(
            raw_matrix(vectors[: args.session_size], query_vector), args.queries, args.warmup
        )
        results["in-memory matrix user_100k"] = timed(
            raw_matrix(vectors, query_vector), args.queries, args.warmup
        )
    report["results"] = results
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
