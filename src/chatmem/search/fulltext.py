"""Keyword search: SQLite FTS5 ranked by BM25, PostgreSQL full-text ranked by ``ts_rank_cd``.

The query text is cut into words and the words are OR-ed: a row matching more (and rarer) words ranks
higher, and a row matching only some still counts, which is what a chat search box wants. Stop words
are dropped on both databases (PostgreSQL's ``english`` configuration drops them anyway).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from chatmem.search.targets import ROWID_SHIFT, SEQ_MASK, LiveScope, Target

Key = tuple[int, int]
Ranked = list[tuple[Key, float]]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERMS = 32
# The short English stop list of PostgreSQL's english.stop, for SQLite's porter tokenizer.
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)
PG_CONFIG = "'english'"


def terms(text: str) -> list[str]:
    words = [word.lower() for word in _WORD.findall(text)]
    kept = [word for word in dict.fromkeys(words) if word not in STOP_WORDS]
    return kept[:MAX_TERMS]


def rank(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    text: str,
    where: list[sa.ColumnElement[bool]],
    limit: int,
) -> Ranked:
    """The best ``limit`` live rows in scope for ``text``, best first, with a higher-is-better score."""
    words = terms(text)
    if not words:
        return []
    if conn.dialect.name == "sqlite":
        return _sqlite(conn, target, scope, words, where, limit)
    query = postgres_query(target, scope, words, where, limit)
    return [((row[0], row[1]), float(row[2])) for row in conn.execute(query)]


def _sqlite(
    conn: sa.Connection,
    target: Target,
    scope: LiveScope,
    words: list[str],
    where: list[sa.ColumnElement[bool]],
    limit: int,
) -> Ranked:
    fts = sa.table(target.fts, sa.column("rowid", sa.BigInteger))
    table = target.table
    bm25: Any = sa.literal_column(f"bm25({target.fts})")
    # The join is written on the FTS side's rowid, so SQLite drives the query from the index.
    joined = fts.join(
        table,
        sa.and_(
            table.c.session_pk == fts.c.rowid.op(">>")(ROWID_SHIFT),
            target.key_column == fts.c.rowid.op("&")(SEQ_MASK),
        ),
    )
    query: Any = (
        sa.select(table.c.session_pk, target.key_column, bm25.label("score"))
        .select_from(joined)
        .where(sa.text(f"{target.fts} MATCH :match").bindparams(match=" OR ".join(f'"{w}"' for w in words)))
        .where(*where)
    )
    single = scope.single
    if single is not None:
        # A rowid range is a seek inside the FTS index: only this session's postings are read.
        pk, floor = single
        query = query.where(
            fts.c.rowid.between((pk << ROWID_SHIFT) + floor + 1, (pk << ROWID_SHIFT) + SEQ_MASK)
        )
    query = scope.restrict(query, table, table.c.session_pk, target.key_column)
    query = query.order_by(bm25).limit(limit)
    # bm25() is lower-is-better; the API's dist is higher-is-better.
    return [((row[0], row[1]), -float(row[2])) for row in conn.execute(query)]


def postgres_query(
    target: Target, scope: LiveScope, words: list[str], where: list[sa.ColumnElement[bool]], limit: int
) -> sa.Select[Any]:
    table = target.table
    config: Any = sa.literal_column(PG_CONFIG)
    # The stored to_tsvector('english', content) of migration 0005, GIN-indexed: ranking reads it
    # instead of parsing every matching row's content again.
    document: Any = sa.literal_column(f"{table.name}.search_tsv")
    # The query words are rendered into the SQL (escaped by SQLAlchemy; they are letters and digits
    # anyway), not bound: only with a constant does the planner estimate how many rows match and pick
    # the GIN index, and fold to_tsquery instead of evaluating it per row under a generic plan.
    words_literal = sa.bindparam("tsquery_text", " | ".join(words), type_=sa.Text, literal_execute=True)
    tsquery: Any = sa.func.to_tsquery(config, words_literal)
    score = sa.func.ts_rank_cd(document, tsquery, 1, type_=sa.Float)
    query: Any = (
        sa.select(table.c.session_pk, target.key_column, score.label("score"))
        .where(document.op("@@")(tsquery))
        .where(*where)
    )
    query = scope.restrict(query, table, table.c.session_pk, target.key_column)
    return query.order_by(score.desc(), target.key_column.desc()).limit(limit)  # type: ignore[no-any-return]
