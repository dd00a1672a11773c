"""The rule check: the excluded thing or a close variant of it in a document."""

from __future__ import annotations

import pytest

from aptrank.constraints.check import RuleChecker
from aptrank.constraints.parse import parse_query

CORPUS = [
    "Dickens wrote A Tale of Two Cities.",
    "Dickens wrote Oliver Twist.",
    "Two cities were founded in the valley.",
    "Antisemitism in Europe.",
    "He hosted SNL for years.",
]


@pytest.mark.parametrize(
    ("query", "doc", "strength"),
    [
        # the excluded phrase as one run of content words
        ("Dickens's works (excluding A Tale of Two Cities)", CORPUS[0], 1.0),
        ("Dickens's works (excluding A Tale of Two Cities)", CORPUS[1], 0.0),
        # adjacent words joined: "anti Semitism" ~ "antisemitism"
        ("European history, but excluding anti Semitism", CORPUS[3], 1.0),
        # the acronym of a multi-word name
        ("Aykroyd's career outside of Saturday Night Live", CORPUS[4], 1.0),
        # a word the topic holds is no key term: only "monster" counts
        ("Frankenstein, without Frankenstein's monster", "Frankenstein by Mary Shelley", 0.0),
    ],
)
def test_strength(query: str, doc: str, strength: float) -> None:
    checker = RuleChecker.from_texts(CORPUS)
    assert checker.violation(parse_query(query), doc) == pytest.approx(strength)


def test_partial_mentions_weigh_rare_words_more() -> None:
    checker = RuleChecker.from_texts(CORPUS)
    parsed = parse_query("Dickens's works (excluding A Tale of Two Cities)")
    # "two" and "cities" are in 2 of 5 documents, "tale" in 1: tale weighs more
    only_tale = checker.violation(parsed, "a tale")
    only_cities = checker.violation(parsed, "the cities")
    assert 0 < only_cities < only_tale < 1
    assert checker.violation(parse_query("Dickens's works"), CORPUS[0]) == 0.0
