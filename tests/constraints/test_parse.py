"""The constraint parser on hand-written queries: exclusion, negation, direction, none."""

from __future__ import annotations

import json

import pytest

from aptrank.constraints.lm import LMParser
from aptrank.constraints.parse import Constraint, delete_exclusion, key_terms, parse_query

# (query, topical part, [(kind, text)])
TABLE = [
    # exclusions, each explicit form
    ("Aaron's profile, but don't mention Moses.", "Aaron's profile.", [("exclusion", "Moses")]),
    (
        "Provide an introduction to Aalborg Municipality without Denmark.",
        "Provide an introduction to Aalborg Municipality.",
        [("exclusion", "Denmark")],
    ),
    (
        "Examine justice in To Kill a Mockingbird, excluding the trial of Tom Robinson.",
        "Examine justice in To Kill a Mockingbird.",
        [("exclusion", "the trial of Tom Robinson")],
    ),
    (
        "How do socialism (excluding The Road to Serfdom) and anarchism (excluding Mutual Aid) "
        "differ on the state?",
        "How do socialism and anarchism differ on the state?",
        [("exclusion", "The Road to Serfdom"), ("exclusion", "Mutual Aid")],
    ),
    (
        "Explore women in Jane Austen's novels, without discussing Pride and Prejudice.",
        "Explore women in Jane Austen's novels.",
        [("exclusion", "Pride and Prejudice")],
    ),
    (
        "Discuss Mark Twain's impact, avoiding any mention of Huckleberry Finn.",
        "Discuss Mark Twain's impact.",
        [("exclusion", "any mention of Huckleberry Finn")],
    ),
    (
        "What are Dan Aykroyd's accomplishments outside of his work on SNL, and how did he start?",
        "What are Dan Aykroyd's accomplishments, and how did he start?",
        [("exclusion", "his work on SNL")],
    ),
    (
        "Summarize the Roman Empire's technology other than concrete? Compare it with Greece.",
        "Summarize the Roman Empire's technology? Compare it with Greece.",
        [("exclusion", "concrete")],
    ),
    (
        "Provide Anatoly Karpov's life story, but do not involve chess.",
        "Provide Anatoly Karpov's life story.",
        [("exclusion", "involve chess")],
    ),
    # negations
    (
        "Which drugs do not cause weight gain?",
        "Which drugs do not cause weight gain?",
        [("negation", "cause weight gain"), ("direction", "gain")],
    ),
    (
        "Vitamin D is not linked to fractures",
        "Vitamin D is not linked to fractures",
        [("negation", "linked to fractures")],
    ),
    # directions (antonym roles): the topic keeps the word
    (
        "Statins decrease LDL cholesterol",
        "Statins decrease LDL cholesterol",
        [("direction", "decrease")],
    ),
    (
        "IL-6 inhibits T cell activation",
        "IL-6 inhibits T cell activation",
        [("direction", "inhibits")],
    ),
    # none: passes through unchanged
    ("Aspirin and colorectal cancer risk", "Aspirin and colorectal cancer risk", []),
    ("Exceptional responders to chemotherapy", "Exceptional responders to chemotherapy", []),
    ("cells outside the tumour", "cells outside the tumour", []),
    (
        "Exercise improves mechanisms mediated by NO.",
        "Exercise improves mechanisms mediated by NO.",
        [("direction", "improves")],
    ),
    # a bare "without" describing a thing, not excluding it (a long object)
    (
        "Mice without IFN-γ or its receptor are resistant to EAM induced with α-MyHC/CFA.",
        "Mice without IFN-γ or its receptor are resistant to EAM induced with α-MyHC/CFA.",
        [],
    ),
    # a parenthetical runs to its bracket, through periods ("No. 9", "Mrs.", "T.S.")
    (
        "How do Beethoven (excluding Symphony No. 9) and Schubert (excluding Ave Maria) compare?",
        "How do Beethoven and Schubert compare?",
        [("exclusion", "Symphony No. 9"), ("exclusion", "Ave Maria")],
    ),
    (
        "The styles of Virginia Woolf (excluding Mrs. Dalloway) and of T.S. Eliot",
        "The styles of Virginia Woolf and of T.S. Eliot",
        [("exclusion", "Mrs. Dalloway")],
    ),
]


@pytest.mark.parametrize(("query", "topic", "found"), TABLE)
def test_parser_table(query: str, topic: str, found: list[tuple[str, str]]) -> None:
    parsed = parse_query(query)
    assert parsed.topic == topic
    assert [(c.kind, c.text) for c in parsed.constraints] == found


def test_direction_has_its_opposite_and_explicit_means_exclusion_or_negation() -> None:
    parsed = parse_query("Statins decrease LDL cholesterol")
    assert parsed.constraints[0].opposite == "increase"
    assert not parsed.explicit  # a direction word alone is not an explicit constraint
    assert parse_query("cats without lions").explicit
    assert parse_query("cats that are not lions").explicit


@pytest.mark.parametrize(
    ("query", "deleted"),
    [
        ("Aaron's profile, but don't mention Moses.", "Aaron's profile."),
        ("Cats (excluding lions) and dogs", "Cats and dogs"),
        ("Summary of anti Semitism but excluding Germany", "Summary of anti Semitism"),
        ("Which drugs do not cause weight gain?", "Which drugs do not cause weight gain?"),
        ("Aspirin and cancer", "Aspirin and cancer"),
    ],
)
def test_delete_exclusion_keeps_everything_but_the_clause(query: str, deleted: str) -> None:
    assert delete_exclusion(query) == deleted


def test_key_terms_drop_filler_and_the_topic_words() -> None:
    c = Constraint("exclusion", "any reference to Frankenstein's monster and society", "excluding")
    assert key_terms(c, "alienation in Frankenstein") == ["monster", "society"]


def test_lm_fallback_is_asked_once_per_query_and_cached(tmp_path) -> None:
    asked: list[str] = []

    def complete(prompts):
        asked.extend(prompts)
        return ["Islamic" if "Islamic" in p else "NONE" for p in prompts]

    cache = tmp_path / "lm.jsonl"
    queries = {
        "a": "Provide a non Islamic summary about Avicenna",
        "b": "Aaron, but don't mention Moses",  # the rules handle it: not asked
        "c": "Aspirin and cancer",
    }
    parsed = LMParser("stub", complete, cache).parse(queries)
    assert len(asked) == 2 and all("Moses" not in p for p in asked)
    assert [(c.text, c.source) for c in parsed["a"].constraints] == [("Islamic", "lm")]
    assert parsed["a"].topic == "Provide a non summary about Avicenna"
    assert parsed["b"].constraints[0].source == "rule" and parsed["c"].constraints == ()
    lines = [json.loads(x) for x in cache.read_text().splitlines()]
    assert {x["query"] for x in lines} == {queries["a"], queries["c"]}
    with cache.open("a") as f:
        f.write('{"query": "torn')  # an interrupted append
    again = LMParser("stub", complete, cache).parse(queries)
    assert len(asked) == 2  # nothing asked twice
    assert again["a"].constraints == parsed["a"].constraints


def test_lm_answers_not_in_the_query_are_ignored(tmp_path) -> None:
    parsed = LMParser("stub", lambda ps: ["dogs"] * len(ps), tmp_path / "c.jsonl").parse(
        {"q": "Aspirin and cancer"}
    )
    assert parsed["q"].constraints == ()
