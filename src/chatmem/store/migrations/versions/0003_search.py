"""Search: full-text indexes of messages and summaries, and pgvector copies of their embeddings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Everything here is dialect-specific, so none of it is a Table in ``tables.py``; the schema compare
skips these objects by name (``tables.include_name`` / ``tables.include_object``).

SQLite: an FTS5 table per searchable table, kept in step by triggers. Its rowid encodes the row's
key, ``session_pk << 32 | seq``, so a search in one session is a rowid range inside the index.

PostgreSQL: a GIN index on ``to_tsvector('english', content)``. When the server offers the ``vector``
extension, ``message_vectors`` / ``summary_vectors`` hold each embedding as a pgvector ``vector``,
filled by triggers on the embedding tables (which keep the portable float32 bytes), with HNSW
indexes (inner product) for the common widths. Without the extension search stays exact (NumPy).
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (searchable table, its key column, embedding table, pgvector table)
TARGETS = (
    ("messages", "seq", "message_embeddings", "message_vectors"),
    ("summaries", "point_seq", "summary_embeddings", "summary_vectors"),
)
# Widths that get an HNSW index: all-MiniLM-L6-v2, and OpenAI's text-embedding-3-small / ada-002.
HNSW_DIMENSIONS = (384, 1536)


def _sqlite_upgrade() -> None:
    for table, key, _embeddings, _vectors in TARGETS:
        fts = f"{table}_fts"
        rowid = f"((%s.session_pk << 32) + %s.{key})"
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING "
            "fts5(content, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts} (rowid, content) VALUES ({rowid % ('NEW', 'NEW')}, NEW.content); END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
            f"DELETE FROM {fts} WHERE rowid = {rowid % ('OLD', 'OLD')}; END"
        )
        op.execute(
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF content ON {table} BEGIN "
            f"UPDATE {fts} SET content = NEW.content WHERE rowid = {rowid % ('OLD', 'OLD')}; END"
        )
        op.execute(
            f"INSERT INTO {fts} (rowid, content) SELECT (session_pk << 32) + {key}, content FROM {table}"
        )


# float32 little-endian bytes -> pgvector, in SQL (PostgreSQL has no bit cast from int4 to float4).
_F32LE_TO_VECTOR = """
CREATE OR REPLACE FUNCTION chatmem_f32le_vector(b bytea) RETURNS vector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT array_agg(
      CASE WHEN e = 0 THEN 0::float8
           ELSE (1 - 2 * s) * (1 + m / 8388608.0::float8) * power(2::float8, e - 127) END
      ORDER BY i)::real[]::vector
  FROM (
    SELECT i,
           get_byte(b, 4 * i + 3) >> 7 AS s,
           ((get_byte(b, 4 * i + 3) & 127) << 1) | (get_byte(b, 4 * i + 2) >> 7) AS e,
           ((get_byte(b, 4 * i + 2) & 127) << 16) | (get_byte(b, 4 * i + 1) << 8) | get_byte(b, 4 * i) AS m
    FROM generate_series(0, length(b) / 4 - 1) AS i
  ) AS bits
$$
"""

_SYNC_FUNCTION = """
CREATE OR REPLACE FUNCTION chatmem_{vectors}_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM {vectors} WHERE session_pk = OLD.session_pk AND {key} = OLD.{key};
    RETURN OLD;
  END IF;
  INSERT INTO {vectors} (session_pk, {key}, model, dims, embedding)
  VALUES (NEW.session_pk, NEW.{key}, NEW.model, NEW.dimensions, chatmem_f32le_vector(NEW.vector))
  ON CONFLICT (session_pk, {key}) DO UPDATE
    SET model = EXCLUDED.model, dims = EXCLUDED.dims, embedding = EXCLUDED.embedding;
  RETURN NEW;
END
$$
"""


def _pgvector_upgrade() -> None:
    op.execute(_F32LE_TO_VECTOR)
    for _table, key, embeddings, vectors in TARGETS:
        op.execute(
            f"CREATE TABLE {vectors} ("
            " session_pk bigint NOT NULL,"
            f" {key} bigint NOT NULL,"
            " model text NOT NULL,"
            " dims integer NOT NULL,"
            " embedding vector NOT NULL,"
            f" CONSTRAINT pk_{vectors} PRIMARY KEY (session_pk, {key}),"
            f" CONSTRAINT fk_{vectors}_session_pk_sessions FOREIGN KEY (session_pk)"
            " REFERENCES sessions (id) ON DELETE CASCADE)"
        )
        for dims in HNSW_DIMENSIONS:
            op.execute(
                f"CREATE INDEX ix_{vectors}_hnsw_{dims} ON {vectors} "
                f"USING hnsw ((embedding::vector({dims})) vector_ip_ops) WHERE dims = {dims}"
            )
        op.execute(_SYNC_FUNCTION.format(vectors=vectors, key=key))
        op.execute(
            f"CREATE TRIGGER {embeddings}_to_vectors AFTER INSERT OR UPDATE OR DELETE ON {embeddings} "
            f"FOR EACH ROW EXECUTE FUNCTION chatmem_{vectors}_sync()"
        )
        op.execute(
            f"INSERT INTO {vectors} (session_pk, {key}, model, dims, embedding) "
            f"SELECT session_pk, {key}, model, dimensions, chatmem_f32le_vector(vector) FROM {embeddings}"
        )


def _postgres_upgrade() -> None:
    for table, _key, _embeddings, _vectors in TARGETS:
        op.execute(f"CREATE INDEX ix_{table}_fts ON {table} USING gin (to_tsvector('english', content))")
    bind = op.get_bind()
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").first()
    if available is None:
        return
    # Creating an extension needs privileges the database user may lack: then search stays exact.
    savepoint = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector")
    except Exception:
        savepoint.rollback()
        return
    savepoint.commit()
    _pgvector_upgrade()


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _postgres_upgrade()


def downgrade() -> None:
    bind = op.get_bind()
    for table, _key, embeddings, vectors in TARGETS:
        if bind.dialect.name == "sqlite":
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{event}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
        else:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_fts")
            op.execute(f"DROP TRIGGER IF EXISTS {embeddings}_to_vectors ON {embeddings}")
            op.execute(f"DROP TABLE IF EXISTS {vectors}")
            op.execute(f"DROP FUNCTION IF EXISTS chatmem_{vectors}_sync()")
    if bind.dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS chatmem_f32le_vector(bytea)")
