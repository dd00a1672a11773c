"""ROC-AUC against judged-wrong items and hard negatives, checked by hand."""

from __future__ import annotations

import pytest

from aptrank.diagnose.separability import separability

QRELS = {"q1": {"r1": 1, "r2": 1, "w1": 0}, "q2": {"r3": 1}, "q3": {"w3": 0}}
JUDGED = {"q1": {"r1": 3.0, "r2": 1.0, "w1": 2.0}, "q2": {"r3": 1.0}, "q3": {"w3": 0.2}}
RUN = {
    "q1": {"r1": 3.0, "w1": 2.0, "u1": 1.0, "r2": 1.0, "u2": 0.5},
    "q2": {"u3": 2.0, "r3": 1.0, "u4": 0.5},
    "q3": {"w3": 0.2},
}


def test_auc_per_query_and_pooled():
    s = separability(QRELS, RUN, JUDGED, hard_negatives=2, resamples=200)
    assert s.n_queries == 2  # q3 has no relevant item
    jw = s.vs_judged_wrong
    assert jw is not None
    assert jw.per_query == {"q1": 0.5}  # r1 > w1, r2 < w1; q2 has no judged-wrong item
    assert jw.pooled_auc == 0.5
    hard = s.vs_hard_negatives
    assert hard is not None
    # q1 hard negatives w1 (2.0), u1 (1.0): r1 beats both, r2 ties u1 -> 2.5 / 4
    # q2 hard negatives u3 (2.0), u4 (0.5): r3 beats u4 -> 1 / 2
    assert hard.per_query == {"q1": 0.625, "q2": 0.5}
    assert hard.mean_auc.value == pytest.approx(0.5625)
    assert hard.pooled_auc == pytest.approx(7 / 12)
    assert s.skipped == {}


def test_histograms_share_edges():
    h = separability(QRELS, RUN, JUDGED, hard_negatives=2, resamples=50).histogram
    assert len(h["edges"]) == len(h["relevant"]) + 1
    assert (sum(h["relevant"]), sum(h["judged_wrong"]), sum(h["hard_negatives"])) == (3, 1, 4)


def test_without_grade_zero_the_judged_wrong_part_is_skipped():
    s = separability({"q": {"r": 1}}, {"q": {"r": 1.0, "u": 2.0}}, {"q": {"r": 1.0}})
    assert s.vs_judged_wrong is None and "vs_judged_wrong" in s.skipped
    assert s.vs_hard_negatives is not None and s.vs_hard_negatives.per_query == {"q": 0.0}
    assert s.to_dict()["vs_judged_wrong"] is None
