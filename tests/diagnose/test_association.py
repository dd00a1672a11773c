"""Wrong-but-associated figures on a small inline fixture, checked by hand."""

from __future__ import annotations

import pytest

from aptrank.diagnose.association import association, query_association

QRELS = {
    "q1": {"r1": 1, "w1": 0},
    "q2": {"r2": 2, "r3": 1},  # no judged-wrong item
    "q3": {"w3": 0},  # no relevant item: left out
    "q4": {"r4": 1, "w4": 0},  # relevant outside the top-k; w4 ties with run docs
}
RUN = {
    "q1": {"w1": 3.0, "u1": 2.0, "r1": 1.0},
    "q2": {"r2": 5.0, "u2": 4.0, "x": 1.0},
    "q3": {"w3": 1.0},
    "q4": {"a": 2.0, "b": 2.0, "c": 1.5},
}
JUDGED = {
    "q1": {"r1": 1.0, "w1": 3.0},
    "q2": {"r2": 5.0, "r3": 0.5},
    "q3": {"w3": 1.0},
    "q4": {"r4": 1.0, "w4": 2.0},
}
TEXTS = {"q1": "one", "q2": "two", "q3": "three", "q4": "four"}


def test_per_query_figures():
    a = association(QRELS, RUN, JUDGED, TEXTS, {"w4": "the wrong doc"}, resamples=200)
    q1, q2, q4 = a.per_query["q1"], a.per_query["q2"], a.per_query["q4"]
    assert (q1.first_relevant_rank, q1.exact, q1.wrong_above, q1.unjudged_above) == (3, True, 1, 1)
    assert q1.margin == 2.0 and q1.wrong_outranks_all is True
    assert (q2.first_relevant_rank, q2.items_above) == (1, 0)
    assert q2.margin is None and q2.wrong_outranks_all is None
    assert q2.margin_nonrelevant == -1.0  # u2 (4.0) - r2 (5.0)
    # q4 merged: w4, b, a (ties at 2.0, doc id descending), c, r4 -> rank 5, a lower bound
    assert (q4.first_relevant_rank, q4.exact, q4.wrong_above, q4.unjudged_above) == (5, False, 1, 3)
    assert q4.margin == 1.0 and q4.best_wrong == "w4"
    assert "q3" not in a.per_query


def test_aggregates_and_worst_queries():
    a = association(QRELS, RUN, JUDGED, TEXTS, {"w4": "the wrong doc"}, worst=2, resamples=200)
    assert (a.n_queries, a.n_without_relevant, a.n_with_wrong) == (3, 1, 2)
    assert a.mean_items_above == pytest.approx(2.0)  # (2 + 0 + 4) / 3
    assert a.median_items_above == 2.0
    assert a.share_first_relevant_top1 == pytest.approx(1 / 3)
    assert a.share_relevant_beyond_topk == pytest.approx(1 / 3)
    assert a.wrong_outranks_all is not None and a.wrong_outranks_all.value == 1.0
    assert a.mean_margin == pytest.approx(1.5)
    assert [w["query_id"] for w in a.worst] == ["q4", "q1"]
    assert a.worst[0]["query"] == "four"
    assert a.worst[0]["top_wrong"] == "w4" and a.worst[0]["top_wrong_judged"]
    assert a.worst[0]["top_wrong_text"] == "the wrong doc"
    d = a.to_dict()
    assert d["per_query"]["q4"]["items_above"] == 4
    assert d["wrong_outranks_all"]["n"] == 2


def test_a_tie_between_wrong_and_relevant_is_broken_as_trec_eval_does():
    qa = query_association({"r": 1, "w": 0}, {"r": 1.0, "w": 1.0}, {"r": 1.0, "w": 1.0})
    assert qa is not None
    assert qa.margin == 0.0
    assert qa.wrong_outranks_all is True  # "w" > "r": the wrong item is ranked first
    qa = query_association({"z": 1, "w": 0}, {"z": 1.0, "w": 1.0}, {"z": 1.0, "w": 1.0})
    assert qa is not None and qa.wrong_outranks_all is False


def test_no_relevant_anywhere():
    a = association({"q": {"w": 0}}, {"q": {"w": 1.0}}, {"q": {"w": 1.0}}, {"q": "x"})
    assert a.n_queries == 0 and a.n_without_relevant == 1
    assert a.mean_items_above is None and a.wrong_outranks_all is None and a.worst == []
