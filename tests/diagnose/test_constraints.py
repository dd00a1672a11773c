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
    # first violators: q1 at rank 1 (v2 wins the tie), q2 at rank 2
    assert cp.v_at == {1: 0.5, 2: 1.0, 5: 1.0, 10: 1.0}
    assert (cp.fvr_mean, cp.fvr_median) == (1.5, 1.5)
    assert cp.share_violator_first == 1.0
    d = cp.to_dict()
    assert (d["v@1"], d["v@2"], d["v@5"], d["v@10"]) == (0.5, 1.0, 1.0, 1.0)
    assert "v_at" not in d and "share_violator_in_top10" not in d
    assert d["accuracy"] == pytest.approx(0.5) and d["accuracy_ci"]["n"] == 2
    assert d["per_query"]["q1"]["accuracy"] == 0.75


def test_no_pair_anywhere_is_none():
    assert constraint_pairs({"q": {"a": 1, "b": 2}}, {}, {"q": {"a": 1.0, "b": 0.0}}, 10) is None


def test_v_at_k_and_fvr_count_a_query_without_violator_at_depth_plus_one():
    qrels = {
        "a": {"s": 2, "v": 0},  # violator at rank 3
        "b": {"s": 2, "v": 0},  # violator at rank 1
        "c": {"s": 2, "v": 0},  # violator outside the run: rank depth + 1 = 6
        "d": {"s": 2, "v": 0, "w": 0},  # violators at ranks 2 and 5: the first counts
    }
    judged = {q: {"s": 1.0, "v": 0.0, "w": 0.0} for q in qrels}
    run = {
        "a": {"s": 5.0, "x": 4.0, "v": 3.0},
        "b": {"v": 5.0, "s": 4.0},
        "c": {"s": 5.0, "x": 4.0, "y": 3.0, "z": 2.0, "u": 1.0},
        "d": {"s": 5.0, "v": 4.0, "x": 3.0, "y": 2.0, "w": 1.0},
    }
    cp = constraint_pairs(qrels, run, judged, depth=5, resamples=10)
    assert cp is not None
    # first violator ranks 3, 1, 6, 2
    assert cp.v_at == {1: 0.25, 2: 0.5, 5: 0.75, 10: 1.0}
    assert cp.fvr_mean == pytest.approx(3.0)  # (3 + 1 + 6 + 2) / 4
    assert cp.fvr_median == pytest.approx(2.5)
    assert cp.share_violator_first == 0.25  # only b


def test_report_shows_v_at_k_and_fvr_next_to_pair_accuracy():
    from aptrank.diagnose.summary import render_markdown
    from aptrank.report.diagnosis import render_html

    cp = constraint_pairs(QRELS, RUN, JUDGED, depth=4, resamples=10)
    assert cp is not None
    data = {
        "_meta": {"dataset": "toy", "split": "test"},
        "bm25": {"constraint_pairs": cp.to_dict()},
    }
    md = render_markdown(data)
    assert "| v@1: a judged violator at rank 1 | 50.0 % |" in md
    assert "| FVR median | 1.500 |" in md
    page = render_html(data)
    assert "v@2" in page and "FVR mean" in page and "data:image/png;base64" in page
