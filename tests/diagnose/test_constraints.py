"""Constraint pairs: top-grade vs grade-0 items, ties as half, checked by hand."""

from __future__ import annotations

import pytest

from aptrank.diagnose.constraints import constraint_pairs, query_pairs

QRELS = {
    "q1": {"s1": 2, "p1": 1, "v1": 0, "v2": 0},  # only the top grade (2) is paired
    "q2": {"s2": 1, "v3": 0},
    "q3": {"s3": 1},  # no grade 0: no pair
    "q4": {"v4": 0},  # no relevant item: no pair
}
JUDGED = {
    "q1": {"s1": 0.9, "p1": 0.1, "v1": 0.5, "v2": 0.9},
    "q2": {"s2": 0.2, "v3": 0.7},  # s2 is outside the top-k but still scored
    "q3": {"s3": 1.0},
    "q4": {"v4": 1.0},
}
RUN = {
    "q1": {"v2": 0.9, "s1": 0.9, "x": 0.8, "v1": 0.5},
    "q2": {"x": 0.9, "v3": 0.7},
    "q3": {"s3": 1.0},
    "q4": {"v4": 1.0},
}


def test_pairs_per_query():
    q1 = query_pairs(QRELS["q1"], RUN["q1"], JUDGED["q1"])
    assert q1 is not None
    assert (q1.pairs, q1.wins, q1.ties, q1.accuracy) == (2, 1, 1, 0.75)
    # top-k order: v2, s1 (tie at 0.9, doc id descending), x, v1
    assert (q1.violators_in_topk, q1.first_violator_rank, q1.first_satisfier_rank) == (2, 1, 2)
    q2 = query_pairs(QRELS["q2"], RUN["q2"], JUDGED["q2"])
    assert q2 is not None and q2.accuracy == 0.0 and q2.first_satisfier_rank is None
    assert query_pairs(QRELS["q3"], RUN["q3"], JUDGED["q3"]) is None
    assert query_pairs(QRELS["q4"], RUN["q4"], JUDGED["q4"]) is None


def test_accuracy_ties_as_half_with_a_ci_over_queries():
    cp = constraint_pairs(QRELS, RUN, JUDGED, depth=4, resamples=500)
    assert cp is not None
    assert (cp.n_queries, cp.n_pairs, cp.ties) == (2, 3, 1)
    assert cp.accuracy.value == pytest.approx(0.5)  # (1 + 0.5 + 0) / 3
    assert cp.strict_accuracy == pytest.approx(1 / 3)
    assert cp.query_accuracy == pytest.approx(0.375)  # mean of 0.75 and 0
    assert cp.queries_all_won == 0.0
    # resampling two queries: 0 (q2 twice), 0.5 (mixed) or 0.75 (q1 twice)
    assert 0.0 <= cp.accuracy.low <= 0.5 <= cp.accuracy.high <= 0.75
    assert cp.mean_violators_in_topk == 1.5
    assert cp.share_violator_in_top10 == 1.0
    assert cp.median_first_violator_rank == 1.5
    assert cp.share_violator_first == 1.0
    d = cp.to_dict()
    assert d["accuracy"] == pytest.approx(0.5) and d["accuracy_ci"]["n"] == 2
    assert d["per_query"]["q1"]["accuracy"] == 0.75


def test_no_pair_anywhere_is_none():
    assert constraint_pairs({"q": {"a": 1, "b": 2}}, {}, {"q": {"a": 1.0, "b": 0.0}}, 10) is None
