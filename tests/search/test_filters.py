"""Zep's metadata filters (JSONPath ``where`` with and/or, start_date/end_date), same on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.search.conftest import add, contents, search

BOOKS: list[dict[str, Any]] = [
    {
        "role": "human",
        "content": "Kindred is a great novel.",
        "metadata": {
            "author": "Octavia Butler",
            "year": 1979,
            "tags": ["scifi", "classic"],
            "system": {"entities": [{"Label": "PERSON", "Name": "Octavia Butler"}]},
        },
    },
    {
        "role": "human",
        "content": "Parable of the Sower, also a great novel.",
        "metadata": {
            "author": "Octavia Butler",
            "year": 1993,
            "tags": ["scifi"],
            "system": {"entities": [{"Label": "WORK_OF_ART", "Name": "Parable of the Sower"}]},
        },
    },
    {
        "role": "human",
        "content": "The Left Hand of Darkness is a great novel.",
        "metadata": {"author": "Ursula K. Le Guin", "year": 1969, "tags": ["scifi", "classic"]},
    },
    {"role": "ai", "content": "What a great novel list.", "metadata": {"rating": None}},
    {"role": "ai", "content": "No metadata on this great novel message."},
]


@pytest.fixture
def books(api: httpx.Client, sid: str) -> str:
    add(api, sid, *BOOKS)
    return f"/sessions/{sid}"


def where(api: httpx.Client, path: str, clause: dict[str, Any], **body: Any) -> list[str]:
    return contents(search(api, path, metadata={"where": clause}, **body))


def test_the_documented_jsonpath_forms_select_messages(api: httpx.Client, books: str) -> None:
    assert where(api, books, {"jsonpath": '$[*] ? (@.author == "Octavia Butler")'}) == [
        BOOKS[1]["content"],
        BOOKS[0]["content"],
    ]  # metadata-only: newest first
    assert where(api, books, {"jsonpath": '$.system.entities[*] ? (@.Label == "PERSON")'}) == [
        BOOKS[0]["content"]
    ]
    # Zep accepted single quotes (it replaced them with double quotes).
    assert where(api, books, {"jsonpath": "$[*] ? (@.author == 'Ursula K. Le Guin')"}) == [
        BOOKS[2]["content"]
    ]


def test_comparisons_and_boolean_operators(api: httpx.Client, books: str) -> None:
    assert set(where(api, books, {"jsonpath": '$ ? (@.year < 1980 && @.tags == "classic")'})) == {
        BOOKS[0]["content"],
        BOOKS[2]["content"],
    }
    assert set(where(api, books, {"jsonpath": '$ ? (@.year >= 1990 || @.author starts with "Ursula")'})) == {
        BOOKS[1]["content"],
        BOOKS[2]["content"],
    }
    assert where(api, books, {"jsonpath": "$ ? (@.rating == null)"}) == [BOOKS[3]["content"]]
    assert where(api, books, {"jsonpath": '$.tags[*] ? (@ == "classic")'}) == [
        BOOKS[2]["content"],
        BOOKS[0]["content"],
    ]
    assert where(api, books, {"jsonpath": "$ ? (!(exists(@.author)) && exists(@.rating))"}) == [
        BOOKS[3]["content"]
    ]
    # A string never equals a number: unknown, so not selected (lax mode, as PostgreSQL).
    assert where(api, books, {"jsonpath": '$ ? (@.year == "1979")'}) == []


def test_and_or_groups_combine_like_zep(api: httpx.Client, books: str) -> None:
    clause = {
        "or": [
            {
                "and": [
                    {"jsonpath": '$[*] ? (@.author == "Octavia Butler")'},
                    {"jsonpath": "$ ? (@.year > 1990)"},
                ]
            },
            {"jsonpath": '$[*] ? (@.author == "Ursula K. Le Guin")'},
        ]
    }
    assert set(where(api, books, clause)) == {BOOKS[1]["content"], BOOKS[2]["content"]}
    # A jsonpath and a group side by side are ANDed.
    both = {"jsonpath": "$ ? (@.year < 1990)", "or": [{"jsonpath": '$ ? (@.author == "Octavia Butler")'}]}
    assert where(api, books, both) == [BOOKS[0]["content"]]


def test_filters_apply_to_text_search_before_the_limit(api: httpx.Client, books: str) -> None:
    hits = where(
        api,
        books,
        {"jsonpath": '$ ? (@.author == "Ursula K. Le Guin")'},
        text="great novel",
        search_type="text",
    )
    assert hits == [BOOKS[2]["content"]]


def test_start_and_end_dates_bound_created_at(api: httpx.Client, books: str) -> None:
    now = dt.datetime.now(dt.UTC)
    earlier = (now - dt.timedelta(days=1)).isoformat()
    later = (now + dt.timedelta(days=1)).isoformat()
    assert len(search(api, books, metadata={"start_date": earlier, "end_date": later})) == 5
    assert search(api, books, metadata={"start_date": later}) == []
    assert search(api, books, metadata={"end_date": "2001-01-01"}) == []
    assert len(search(api, books, text="novel", search_type="text", metadata={"start_date": earlier})) == 5
