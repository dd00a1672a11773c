"""The perturbation rules, one hand-written case each."""

from __future__ import annotations

import pytest

from aptrank.diagnose.perturb import (
    ANTONYMS,
    NEGATION,
    antonym_swap,
    case_control,
    negation_add,
    negation_remove,
    perturbations,
    reorder,
    rule_counts,
    synonym,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Aaron's profile, but don't mention Moses.", "Aaron's profile, but do mention Moses."),
        ("Statins do not reduce cholesterol", "Statins do reduce cholesterol"),
        ("Cats cannot sleep", "Cats can sleep"),
        ("Cats can’t sleep", "Cats can sleep"),
        ("There is no effect of X", "There is effect of X"),
        ("Not all cats sleep", "All cats sleep"),
    ],
)
def test_negation_remove(text: str, expected: str):
    p = negation_remove(text)
    assert p is not None and (p.kind, p.rule, p.text) == ("flip", "negation_remove", expected)


def test_negation_remove_needs_a_negation():
    assert negation_remove("Cats sleep a lot") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ALDH1 expression is associated with poor prognosis.",
         "ALDH1 expression is not associated with poor prognosis."),
        ("Describe the history of Aalborg.", "Do not describe the history of Aalborg."),
        ("Statins lower cholesterol.", "It is not true that statins lower cholesterol."),
        ("BRCA1 mutations raise risk.", "It is not true that BRCA1 mutations raise risk."),
    ],
)  # fmt: skip
def test_negation_add(text: str, expected: str):
    p = negation_add(text)
    assert p is not None and p.text == expected and p.kind == "flip"


def test_negation_add_leaves_negated_queries_and_questions_alone():
    assert negation_add("Cats do not sleep.") is None
    assert negation_add("Is coffee bad for you?") is None


def test_antonym_swap_first_match_keeps_case():
    p = antonym_swap("Exercise Increases bone density with age")
    assert p is not None and p.text == "Exercise Decreases bone density with age"
    assert p.detail == "increases → decreases"
    assert antonym_swap("excluding the trial").text == "including the trial"  # type: ignore[union-attr]
    assert antonym_swap("cats purr") is None
    assert all(ANTONYMS[ANTONYMS[w]] == w for w in ANTONYMS)  # the table is symmetric


def test_controls():
    assert case_control("Cats Purr").text == "cats purr"  # type: ignore[union-attr]
    assert case_control("cats purr").text == "CATS PURR"  # type: ignore[union-attr]
    p = synonym("The effect of tea, but don't mention milk")
    assert p is not None and p.text == "The impact of tea, but don't mention milk"
    assert p.kind == "control"
    r = reorder("Effect of statins on cholesterol in elderly patients.")
    assert r is not None and r.text == "In elderly patients, effect of statins on cholesterol."
    r = reorder("In mice, statins do not reduce cholesterol.")
    assert r is not None and r.text == "Statins do not reduce cholesterol in mice."
    assert reorder("cats purr") is None


def test_perturbations_and_rule_counts():
    texts = {"a": "Statins increase risk", "b": "Is tea good?"}
    perturbed = {q: perturbations(t) for q, t in texts.items()}
    assert [(p.kind, p.rule) for p in perturbed["a"]] == [
        ("flip", "negation_add"),
        ("flip", "antonym_swap"),
        ("control", "case"),
        ("control", "synonym"),
    ]
    assert [p.rule for p in perturbed["b"]] == ["case"]
    assert rule_counts(perturbed) == {"antonym_swap": 1, "negation_add": 1, "case": 2, "synonym": 1}


def test_negation_regex():
    assert NEGATION.search("we don't know") and NEGATION.search("no way")
    assert not NEGATION.search("nothing notable about knots")
