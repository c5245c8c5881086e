"""Shared by the search benchmarks: databases (SQLite file, PostgreSQL + pgvector from ``pgserver``) and
bulk loading of chitchat conversations with their embeddings, the way the enrichment jobs store them."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from chatmem.store import Database, migrated_database
from chatmem.store.tables import DEFAULT_TENANT_ID, message_embeddings, messages, sessions, users


@contextmanager
def database(kind: str) -> Iterator[Database]:
    """A migrated, empty database: ``sqlite`` (a temporary file) or ``pgvector`` (a pgserver instance)."""
    work = Path(tempfile.mkdtemp(prefix="chatmem-search-bench-"))
    server: Any = None
    try:
        if kind == "sqlite":
            url = f"sqlite:///{work / 'bench.db'}"
        else:
            import pgserver

            server = pgserver.get_server(  # type: ignore[attr-defined]
                Path(tempfile.gettempdir()) / f"chatmem-pgv-{uuid.uuid4().hex[:8]}"
            )
            url = str(server.get_uri())
        with migrated_database(url) as db:
            yield db
    finally:
        if server is not None:
            server.cleanup()
            shutil.rmtree(server.pgdata, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


@contextmanager
def hnsw_built_after_load(db: Database) -> Iterator[None]:
    """Drop the HNSW indexes while the body bulk-loads, then build them once over all rows.

    Inserting 100k vectors one by one into an HNSW index took over 8 minutes on the 2-core machine;
    a build over the loaded table is what an operator would do for a bulk import too. The index
    definitions are read back from the catalog, so the benchmark builds exactly what the migration made.
    """
    if db.is_sqlite:
        yield
        return
    with db.write() as conn:
        definitions = [
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE position('USING hnsw' IN indexdef) > 0"
            )
        ]
        for definition in definitions:
            name = definition.split()[2]
            conn.exec_driver_sql(f"DROP INDEX {name}")
    yield
    with db.write() as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        for definition in definitions:
            conn.exec_driver_sql(definition)


def vacuum_analyze(db: Database) -> None:
    """The state autovacuum leaves a while after a bulk load: statistics, and on PostgreSQL the GIN
    indexes' pending lists merged (an unmerged list made a 1,748-match lookup take 10 ms, not 0.4)."""
    if db.is_sqlite:
        with db.write() as conn:
            conn.exec_driver_sql("ANALYZE")
        return
    engine = sa.create_engine(db.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()


def load(
    db: Database,
    user_id: str,
    conversations: Sequence[Sequence[str]],
    vectors: np.ndarray[Any, Any],
    model: str,
    *,
    batch: int = 2000,
) -> list[str]:
    """One session per conversation, all owned by ``user_id``; row i of ``vectors`` embeds message i."""
    ts = dt.datetime.now(dt.UTC)
    ids = []
    with db.write() as conn:
        conn.execute(
            sa.insert(users).values(
                tenant_id=DEFAULT_TENANT_ID, user_id=user_id, uuid=uuid.uuid4(), created_at=ts, updated_at=ts
            )
        )
    row = 0
    for index, turns in enumerate(conversations):
        session_id = f"{user_id}-{index}"
        ids.append(session_id)
        with db.write() as conn:
            pk = conn.execute(
                sa.insert(sessions)
                .values(
                    tenant_id=DEFAULT_TENANT_ID,
                    session_id=session_id,
                    uuid=uuid.uuid4(),
                    user_id=user_id,
                    created_at=ts,
                    updated_at=ts,
                    last_seq=len(turns),
                    message_count=len(turns),
                )
                .returning(sessions.c.id)
            ).scalar_one()
        for start in range(0, len(turns), batch):
            chunk = list(enumerate(turns))[start : start + batch]
            with db.write() as conn:
                conn.execute(
                    sa.insert(messages),
                    [
                        {
                            "session_pk": pk,
                            "seq": seq + 1,
                            "uuid": uuid.uuid4(),
                            "role": "human" if seq % 2 == 0 else "ai",
                            "content": text,
                            "created_at": ts,
                            "updated_at": ts,
                        }
                        for seq, text in chunk
                    ],
                )
                conn.execute(
                    sa.insert(message_embeddings),
                    [
                        {
                            "session_pk": pk,
                            "seq": seq + 1,
                            "model": model,
                            "dimensions": vectors.shape[1],
                            "vector": vectors[row + seq].astype("<f4").tobytes(),
                            "created_at": ts,
                        }
                        for seq, _text in chunk
                    ],
                )
        row += len(turns)
    return ids


def conversations(count: int | None = None) -> list[list[str]]:
    """Conversations of the MIT-licensed chitchat-dataset (turn texts, blank turns dropped)."""
    import chitchat_dataset

    found: list[list[str]] = []
    for conversation in chitchat_dataset.ConversationDataset():
        turns = [
            " ".join(turn).strip() if isinstance(turn, list) else str(turn).strip() for turn in conversation
        ]
        turns = [turn for turn in turns if turn]
        if turns:
            found.append(turns)
        if count is not None and len(found) >= count:
            break
    return found
