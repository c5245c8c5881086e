"""chatmem's JSONPath evaluator (used on SQLite) agrees with PostgreSQL's jsonb_path_exists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from chatmem.base.errors import BadRequestError
from chatmem.search import jsonpath
from tests.support import PG_ADMIN_URL, needs_postgres

DOCS: list[Any] = [
    {
        "author": "Octavia Butler",
        "year": 1979,
        "tags": ["scifi", "classic"],
        "score": 4.5,
        "system": {
            "entities": [{"Label": "PERSON", "Name": "Octavia Butler"}, {"Label": "DATE", "Name": "1979"}]
        },
    },
    {
        "author": "Ursula",
        "year": "1969",
        "tags": "scifi",
        "flag": True,
        "none": None,
        "nested": {"a": [{"b": 1}, {"b": 2}]},
    },
    {"it's": "quoted key", "list": [[1, 2], [3]], "empty": {}},
    [{"author": "Octavia Butler"}, {"author": "Other"}],
    {},
]
PATHS = [
    '$[*] ? (@.author == "Octavia Butler")',
    "$[*] ? (@.author == 'Octavia Butler')",
    '$.system.entities[*] ? (@.Label == "PERSON")',
    '$.system.entities[*] ? (@.Label == "ORG")',
    "$ ? (@.year > 1970)",
    '$ ? (@.year == "1969")',
    '$ ? (@.year < 2000 && @.tags == "classic")',
    "$ ? (@.year < 1970 || @.flag == true)",
    "$ ? (@.none == null)",
    "$ ? (@.missing == null)",
    "$ ? (@.flag != false)",
    "$ ? (@.score >= 4.5)",
    "$ ? (@.score > -1e3)",
    '$.tags[*] ? (@ starts with "sci")',
    '$.tags ? (@ == "scifi")',
    "$.nested.a[*] ? (@.b == 2)",
    "$.nested.a.b ? (@ == 1)",
    "$.nested.*",
    "$.*.a",
    "$.system.entities[1]",
    "$.system.entities[5]",
    "$[0]",
    "$.list[*][*] ? (@ == 3)",
    # Zep turns every ' into " (so "it's" cannot be written as such), but a \u0027 escape works.
    '$."it\\u0027s"',
    "$ ? (exists(@.system.entities))",
    "$ ? (!(exists(@.author)))",
    '$ ? (!(@.author == "Ursula"))',
    "$ ? (@.author == $.author)",
    "$.empty",
    "$.author",
    "lax $.year",
]


@pytest.fixture(scope="module")
def postgres() -> Iterator[sa.Connection]:
    engine = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@needs_postgres
@pytest.mark.parametrize("path", PATHS)
def test_the_sqlite_evaluator_agrees_with_postgresql(postgres: sa.Connection, path: str) -> None:
    parsed = jsonpath.parse(path)
    for doc in DOCS:
        expected = postgres.execute(
            sa.text("SELECT jsonb_path_exists(CAST(:doc AS jsonb), CAST(:path AS jsonpath))"),
            {"doc": json.dumps(doc), "path": jsonpath.render(parsed)},
        ).scalar()
        assert jsonpath.exists(jsonpath.parse_rendered(jsonpath.render(parsed)), doc) is expected, (path, doc)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "author",
        "$.a == 1",
        "strict $.a",
        "$.a.size()",
        '$.a ? (@ like_regex "x")',
        "$.**",
        "$[1 to 2]",
        "$[last]",
        "$ ? (@.a + 1 > 2)",
        "$.a ?",
        "$ ? (@.a == )",
        "$ ? (@.a == 'x'",
        "$.a ? (@.b)",
        "$..a",
    ],
)
def test_paths_outside_the_subset_are_refused(path: str) -> None:
    with pytest.raises(BadRequestError):
        jsonpath.parse(path)
