from __future__ import annotations

import math
import statistics

import pytest

from aptrank.errors import AptrankError
from aptrank.train.examples import (
    human_pairs,
    margin_triples,
    negative_order,
    normalize_margins,
    resolve_scale,
    soft_pairs,
    to_logit,
    to_probability,
)
from aptrank.types import Doc, Query

QUERIES = {"q1": Query("cats"), "q2": Query("stocks"), "q3": Query("no judgments")}
CORPUS = {
    "d1": Doc("cats purr", title="Cats"),
    "d2": Doc("dogs bark"),
    "d3": Doc("markets fell"),
    "d4": Doc("prices rose"),
    "d5": Doc("pet food"),
}


def test_human_pairs_positives_then_negatives_never_a_relevant_one():
    qrels = {"q1": {"d1": 2, "d5": 1, "d2": 0}, "q2": {"d3": 1}, "gone": {"d1": 1}}
    mined = {"q1": ["d1", "d5", "d3", "d4", "d2"], "q2": ["d3", "d3", "d4", "d1", "d2"]}
    pairs = human_pairs(QUERIES, CORPUS, qrels, mined, n_neg=1)
    assert pairs == [
        ("cats", "Cats cats purr", 1.0),  # grade 2 first
        ("cats", "pet food", 1.0),
        ("cats", "dogs bark", 0.0),  # judged wrong comes before the mined ones
        ("cats", "markets fell", 0.0),  # 1 negative per relevant document: 2 for q1
        ("stocks", "markets fell", 1.0),
        ("stocks", "prices rose", 0.0),  # d3 is relevant, skipped (twice)
    ]
    assert human_pairs(QUERIES, CORPUS, qrels, mined, n_neg=1) == pairs  # deterministic
    relevant = {
        (QUERIES[q].text, CORPUS[d].full_text)
        for q in qrels
        if q in QUERIES
        for d, g in qrels[q].items()
        if g > 0
    }
    assert not any((q, d) in relevant for q, d, label in pairs if label == 0.0)


def test_human_pairs_graded_labels_and_skips():
    qrels = {"q1": {"d1": 3, "d5": 1, "nowhere": 2}, "q2": {"d3": 0}}
    pairs = human_pairs(QUERIES, CORPUS, qrels, {}, n_neg=2, graded=True)
    # q2 has no relevant document: no pairs; "nowhere" is not in the corpus
    assert pairs == [("cats", "Cats cats purr", 1.0), ("cats", "pet food", pytest.approx(1 / 3))]
    with pytest.raises(AptrankError, match="n_neg"):
        human_pairs(QUERIES, CORPUS, qrels, {}, n_neg=-1)


LABELS = {
    "q1": {"d1": 0.9, "d2": 0.5, "d3": 0.2, "d4": 0.1, "d5": 0.5},
    "q2": {"d3": 0.8},  # a single labeled document gives no triple
}


def test_margin_triples_top_pairing_uses_logit_margins():
    triples = margin_triples(QUERIES, CORPUS, LABELS, per_query=2, seed=3)
    assert len(triples) == 2
    for query, pos, neg, margin in triples:
        assert query == "cats" and pos == "Cats cats purr"  # the teacher's best document
        neg_id = next(d for d in CORPUS if CORPUS[d].full_text == neg)
        expected = to_logit(0.9, "probability") - to_logit(LABELS["q1"][neg_id], "probability")
        assert margin == pytest.approx(expected)
        assert margin > 0
    assert margin_triples(QUERIES, CORPUS, LABELS, per_query=2, seed=3) == triples
    everything = margin_triples(QUERIES, CORPUS, LABELS, per_query=None)
    assert len(everything) == 4
    assert {t[2] for t in everything} == {CORPUS[d].full_text for d in ("d2", "d3", "d4", "d5")}


def test_margin_triples_sampling_is_per_query_and_seeded():
    big = {"q1": {f"d{i}": float(i) for i in range(1, 6)}}
    draws = {tuple(margin_triples(QUERIES, CORPUS, big, per_query=2, seed=s)) for s in range(8)}
    assert len(draws) > 1  # the seed changes the sample
    alone = margin_triples(QUERIES, CORPUS, big, per_query=2, seed=1)
    with_other = margin_triples(QUERIES, CORPUS, {**big, "q2": {"d1": 1.0, "d2": 0.0}}, 2, 1)
    assert with_other[: len(alone)] == alone  # another query does not change this one's sample


def test_margin_triples_random_pairing_orders_each_pair():
    raw = {"q1": {"d1": 3.0, "d2": -1.0, "d3": 0.5, "d4": 2.0}}
    triples = margin_triples(QUERIES, CORPUS, raw, per_query=None, pairing="random")
    assert len(triples) == 6  # every pair once
    assert all(m >= 0 for *_, m in triples)
    assert sorted(m for *_, m in triples) == pytest.approx(sorted([4.0, 2.5, 1.0, 1.5, 3.0, 1.5]))
    with pytest.raises(AptrankError, match="pairing"):
        margin_triples(QUERIES, CORPUS, raw, pairing="all")


def test_soft_pairs_are_probabilities_with_the_top_document_first():
    pairs = soft_pairs(QUERIES, CORPUS, LABELS, per_query=3, seed=0)
    q1 = [p for p in pairs if p[0] == "cats"]
    assert len(q1) == 3 and q1[0] == ("cats", "Cats cats purr", 0.9)
    assert ("stocks", "markets fell", 0.8) in pairs  # one labeled document is enough here
    logits = soft_pairs(QUERIES, CORPUS, {"q1": {"d1": 2.0, "d2": -2.0}}, scale="logit")
    assert [p for *_, p in logits] == pytest.approx([1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2))])


def test_teacher_scales():
    assert resolve_scale({"q": {"a": 1.0, "b": 0.0}}) == "probability"
    assert resolve_scale({"q": {"a": 1.5}}) == "logit"
    assert resolve_scale({"q": {"a": 0.5}}, "logit") == "logit"
    assert to_logit(0.5, "probability") == 0.0
    assert to_logit(1.0, "probability") == pytest.approx(math.log((1 - 1e-6) / 1e-6))
    assert to_probability(-800.0, "logit") == pytest.approx(0.0)  # no overflow
    with pytest.raises(AptrankError, match="scale"):
        resolve_scale({}, "raw")
    with pytest.raises(AptrankError, match="probability"):
        margin_triples(QUERIES, CORPUS, {"q1": {"d1": 2.0, "d2": 0.0}}, scale="probability")
    with pytest.raises(AptrankError, match="nan"):
        margin_triples(QUERIES, CORPUS, {"q1": {"d1": float("nan"), "d2": 0.0}})


def test_random_negative_order_is_seeded_per_query_and_keeps_every_document():
    ranking = {"q1": [f"d{i}" for i in range(30)], "q2": ["a", "b"]}
    top = negative_order(ranking, "top")
    assert top == ranking and top["q1"] is not ranking["q1"]
    drawn = negative_order(ranking, "random", seed=0)
    assert sorted(drawn["q1"]) == sorted(ranking["q1"]) and drawn["q1"] != ranking["q1"]
    assert drawn == negative_order(ranking, "random", seed=0)
    assert negative_order({"q1": ranking["q1"]}, "random", seed=0)["q1"] == drawn["q1"]
    assert negative_order(ranking, "random", seed=1)["q1"] != drawn["q1"]
    with pytest.raises(AptrankError, match="unknown negative sampling 'best'"):
        negative_order(ranking, "best")


def test_margins_are_scaled_to_unit_spread_keeping_their_order():
    triples = [("q", "a", f"d{i}", float(m)) for i, m in enumerate([1, 3, 7.5, 15])]
    scaled, divisor = normalize_margins(triples, "std")
    margins = [t[3] for t in scaled]
    assert math.isclose(divisor, statistics.pstdev([1, 3, 7.5, 15]))
    assert math.isclose(statistics.pstdev(margins), 1.0) and margins == sorted(margins)
    assert [t[:3] for t in scaled] == [t[:3] for t in triples]
    assert normalize_margins(triples, "none") == (list(triples), 1.0)
    same = [("q", "a", "b", 2.0), ("q", "a", "c", 2.0)]
    assert normalize_margins(same) == (same, 1.0)  # no spread: left as they are
    assert normalize_margins([]) == ([], 1.0)
    with pytest.raises(AptrankError, match="unknown margin normalization 'z'"):
        normalize_margins(triples, "z")
