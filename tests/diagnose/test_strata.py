"""Strata groupings and per-group means, checked by hand."""

from __future__ import annotations

import math

import pytest

from aptrank.diagnose.strata import (
    MISSING,
    Grouping,
    clarity,
    constraint_types,
    doc_field,
    field_grouping,
    idf_table,
    near_ties,
    query_field,
    query_length,
    strata,
)


def test_strata_means_per_group_with_overlapping_labels():
    g = Grouping("g", "test", {"q1": ("a",), "q2": ("a", "b"), "q3": ("b",)}, ["a", "b"])
    s = strata("ndcg@10", {"q1": 1.0, "q2": 0.0, "q3": 0.5}, [g], resamples=100)
    groups = {x.label: x.mean for x in s.strata["g"].groups}
    assert (groups["a"].value, groups["a"].n) == (0.5, 2)
    assert (groups["b"].value, groups["b"].n) == (0.25, 2)
    assert s.overall.value == pytest.approx(0.5) and s.n_queries == 3
    one = Grouping("one", "test", {"q1": ("a",), "q2": ("a",)}, ["a"])
    assert "one" in strata("m", {"q1": 1.0, "q2": 0.0}, [one]).skipped


def test_idf_and_clarity():
    idf = idf_table(["a b", "a c"], stopwords=["c"])
    assert idf == {"a": pytest.approx(math.log(1.2)), "b": pytest.approx(math.log(2.0))}
    g = clarity({"q1": "a", "q2": "b", "q3": "zzz"}, idf)
    assert set(g.labels) == {"q1", "q2"}  # no known word: no clarity
    assert g.order == [g.labels["q1"][0], g.labels["q2"][0]]  # increasing


def test_query_length_bins():
    g = query_length({"a": "x", "b": "x y", "c": "x y z w", "d": "x y z w v u"})
    assert g.labels["a"] == ("1 words",) and g.labels["d"] == ("6 words",)
    assert len(g.order) == 4


def test_near_ties():
    run = {
        "flat": {f"d{i}": 1.0 - 0.001 * i for i in range(20)},  # top-10 spread: 9/19 of the top-k
        "steep": {f"d{i}": 1.0 / (i + 1) for i in range(20)},
        "short": {"a": 1.0},
    }
    g = near_ties(run)
    assert set(g.labels) == {"flat", "steep"}
    # flat: (1 - 0.991) / (1 - 0.981) = 0.474; steep: (1 - 0.1) / (1 - 0.05) = 0.947
    assert g.labels == {"flat": ("Q1",), "steep": ("Q2",)} and g.order == ["Q1", "Q2"]
    assert "Q1 0.474, Q2 0.947" in g.description


def test_constraint_types():
    g = constraint_types(
        {
            "neg": "cats that do not purr",
            "exc": "cats, excluding lions",
            "both": "Aaron's profile, but don't mention Moses",
            "dir": "drugs that do not inhibit tumour growth",
            "num": "more than 3 cats",
            "plain": "cats",
        }
    )
    assert g.labels["neg"] == ("negation",)
    assert g.labels["exc"] == ("exclusion",)
    # "don't mention" is an exclusion cue, not a separate negation
    assert g.labels["both"] == ("exclusion",)
    assert g.labels["dir"] == ("negation", "direction")
    assert g.labels["num"] == ("number/comparative",)
    assert g.labels["plain"] == ("none",)


def test_numeric_fields_are_averaged_and_binned():
    g = field_grouping(
        "doc:year", "years", {"q1": [1990], "q2": [2000, "2010"], "q3": [None], "q4": [1995]}
    )
    # q2 averages to 2005; quartile edges of 1990, 1995, 2005 separate all three
    assert (
        g.labels["q1"] == ("1990",) and g.labels["q2"] == ("2005",) and g.labels["q4"] == ("1995",)
    )
    assert g.labels["q3"] == (MISSING,)
    assert g.order == ["1990", "1995", "2005", MISSING]


def test_categorical_fields_take_the_most_common_value():
    g = field_grouping("f", "cat", {"q1": ["b", "a", "b"], "q2": ["a", "b"], "q3": []})
    assert g.labels == {"q1": ("b",), "q2": ("a",), "q3": (MISSING,)}  # tie: first in sort order


def test_many_categories_are_capped():
    g = field_grouping("f", "cat", {f"q{i}": [f"v{i}"] for i in range(30)})
    assert len(g.order) == 12 and g.order[-1] == "other"


def test_doc_and_query_fields():
    qrels = {"q1": {"d1": 1, "d2": 0}, "q2": {"d2": 1}}
    meta = {"d1": {"kind": "news"}, "d2": {"kind": "blog"}}
    assert doc_field("kind", qrels, meta).labels == {"q1": ("news",), "q2": ("blog",)}
    g = query_field("category", {"q1": {"category": "A"}, "q2": {}})
    assert g.labels == {"q1": ("A",), "q2": (MISSING,)} and g.name == "query:category"
