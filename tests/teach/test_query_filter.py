"""Cleaning and filtering of generated queries, on hand-made generations."""

from __future__ import annotations

import doctest

import pytest

from aptrank.teach import query_filter
from aptrank.teach.query_filter import (
    clean_query,
    filter_queries,
    is_unfinished,
    normalize,
    query_problem,
)
from aptrank.types import Doc, Query

DOC = Doc(
    "Aspirin reduces the risk of a second stroke in adults over fifty who already had one stroke.",
    title="Aspirin and stroke",
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Query: does aspirin prevent stroke", "does aspirin prevent stroke"),
        ('Search query: "aspirin stroke risk"', "aspirin stroke risk"),
        ("Claim: Aspirin lowers stroke risk.", "Aspirin lowers stroke risk."),
        ("1. aspirin and stroke in adults", "aspirin and stroke in adults"),
        ('**Query:** "aspirin dose"', "aspirin dose"),
        ("\n\n  aspirin stroke  \nExplanation: this is why", "aspirin stroke"),
        ("Here is a search query:\naspirin after stroke", "aspirin after stroke"),
        ("“Aspirin lowers stroke risk.”", "Aspirin lowers stroke risk."),
        ('"unbalanced quote at start', "unbalanced quote at start"),
        ("- aspirin trial results *", "aspirin trial results"),
        ("Aspirin lowers stroke risk. Here, we study why.", "Aspirin lowers stroke risk."),
        ("The abstract supports the claim that aspirin works.", "Aspirin works."),
        ("This study shows that aspirin works", "Aspirin works"),
        ("", ""),
    ],
)
def test_clean_query(raw: str, expected: str):
    assert clean_query(raw) == expected


def test_normalize():
    assert normalize("Aspirin's  EFFECT, on-stroke?") == "aspirin s effect on stroke"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("123 456 789", "no_letters"),
        ("aspirin stroke", "too_short"),
        (" ".join(["word"] * 3 + [f"w{i}" for i in range(40)]), "too_long"),
        ("stroke stroke stroke stroke aspirin", "repetitive"),
        ("the document explains aspirin use", "about_the_doc"),
        ("What a fascinating discovery!", "chatter"),
        ("Sure, aspirin prevents strokes", "chatter"),
        ("aspirin AND stroke.", "title_copy"),
        ("reduces the risk of a second stroke in adults over fifty who already had", "doc_copy"),
        ("does aspirin reduce the risk of a second stroke", None),
    ],
)
def test_query_problem(text: str, reason: str | None):
    assert query_problem(text, DOC, min_words=3, max_words=32, max_copy_words=12) == reason


def test_a_short_verbatim_span_is_allowed():
    assert query_problem("risk of a second stroke", DOC) is None


def test_filter_counts_reasons_and_keeps_the_first_duplicate_by_doc_id():
    corpus = {"b": DOC, "a": Doc("another aspirin study"), "c": Doc("x")}

    def q(text: str, doc: str) -> Query:
        return Query(text, {"source_doc": doc})

    queries = {
        "syn-b-0": q("Aspirin after a stroke?", "b"),
        "syn-a-0": q("aspirin after a stroke", "a"),  # same normalized text, smaller doc id
        "syn-c-0": q("aspirin after a Stroke.", "c"),
        "syn-c-1": q("too short", "c"),
        "syn-b-1": q("Aspirin and stroke", "b"),
        "syn-a-1": q("", "a"),
        "syn-c-2": q("does aspirin prevent heart attacks", "c"),
    }
    kept, counts = filter_queries(queries, corpus)
    assert list(kept) == ["syn-a-0", "syn-c-2"]
    assert kept["syn-a-0"] is queries["syn-a-0"]
    assert counts == {"empty": 1, "too_short": 1, "title_copy": 1, "duplicate": 2}
    assert len(queries) == 7  # the input is not changed


def test_duplicates_within_a_document_keep_the_first_query_id():
    queries = {f"syn-d-{k}": Query("same query text here", {"source_doc": "d"}) for k in (10, 9)}
    kept, counts = filter_queries(queries, {"d": Doc("text")})
    assert list(kept) == ["syn-d-9"] and counts == {"duplicate": 1}


@pytest.mark.parametrize(
    "raw, finished, expected",
    [
        ("does aspirin prevent", False, True),  # cut by the token limit
        ("does aspirin prevent stroke", True, False),  # ended by the model
        ("does aspirin prevent stroke\nand", False, False),  # the first line is complete
        ("Does aspirin work? It is", False, False),  # a complete first sentence
        ("", False, False),  # empty is its own reason
    ],
)
def test_is_unfinished(raw: str, finished: bool, expected: bool):
    assert is_unfinished(raw, clean_query(raw), finished) is expected


def test_doctests():
    result = doctest.testmod(query_filter, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
