"""Metrics against values computed by hand on tiny inline TREC judgments and runs."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from aptrank.data.runs import read_trec_run
from aptrank.errors import DataError
from aptrank.evaluate import DEFAULT_METRICS, Evaluator, evaluate, parse_metric, parse_metrics

QRELS = """\
q1 0 d1 2
q1 0 d2 1
q1 0 d3 0
q1 0 d4 1
q2 0 d1 1
q2 0 d5 0
q3 0 d2 0
q4 0 d7 1
"""
# q1: d1 and d2 tie, d2 ranks first (doc id descending) -> d3 d2 d1 d9 d4
# q2: all tie -> d6 d5 d1 (the relevant d1 is third)
# q3: judged, nothing relevant -> not evaluated; q4: judged, missing from the run -> 0
# q9: not judged -> ignored
RUN = """\
q1 Q0 d3 1 3.0 t
q1 Q0 d1 2 2.0 t
q1 Q0 d2 3 2.0 t
q1 Q0 d9 4 1.0 t
q1 Q0 d4 5 0.5 t
q2 Q0 d1 1 1.0 t
q2 Q0 d5 2 1.0 t
q2 Q0 d6 3 1.0 t
q3 Q0 d2 1 1.0 t
q9 Q0 d1 1 1.0 t
"""
METRICS = ("ndcg@3", "recall@2", "precision@2", "mrr@2", "mrr@10", "map")


def parse_qrels(text: str) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        qid, _, docid, grade = line.split()
        qrels.setdefault(qid, {})[docid] = int(grade)
    return qrels


@pytest.fixture
def qrels() -> dict[str, dict[str, int]]:
    return parse_qrels(QRELS)


@pytest.fixture
def run(tmp_path: Path) -> dict[str, dict[str, float]]:
    path = tmp_path / "run.txt"
    path.write_text(RUN, encoding="utf-8")
    return read_trec_run(path)


def test_hand_computed_per_query(qrels, run):
    result = evaluate(qrels, run, METRICS)
    pq = result.per_query
    # q1 ranking: d3(0) d2(1) d1(2) d9(-) d4(1); 3 relevant (grade >= 1): d1 d2 d4
    # DCG@3 = 0/log2(2) + 1/log2(3) + 2/log2(4)
    # ideal grades 2, 1, 1: IDCG@3 = 2/log2(2) + 1/log2(3) + 1/log2(4)
    ndcg_q1 = (1 / math.log2(3) + 2 / 2) / (2 + 1 / math.log2(3) + 1 / 2)
    assert pq["ndcg@3"]["q1"] == pytest.approx(ndcg_q1)
    assert pq["recall@2"]["q1"] == pytest.approx(1 / 3)  # d2 in the top 2, of 3 relevant
    assert pq["precision@2"]["q1"] == pytest.approx(1 / 2)
    assert pq["mrr@2"]["q1"] == pytest.approx(1 / 2)  # first relevant (d2) at rank 2
    assert pq["mrr@10"]["q1"] == pytest.approx(1 / 2)
    # AP: relevant at ranks 2, 3, 5 -> (1/2 + 2/3 + 3/5) / 3
    assert pq["map"]["q1"] == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)

    # q2 ranking (all tied, doc id descending): d6(-) d5(0) d1(1); one relevant
    assert pq["ndcg@3"]["q2"] == pytest.approx((1 / math.log2(4)) / 1)  # DCG 1/log2(4), ideal 1
    assert pq["recall@2"]["q2"] == 0.0
    assert pq["precision@2"]["q2"] == 0.0
    assert pq["mrr@2"]["q2"] == 0.0  # d1 is third: the cut at 2 drops it
    assert pq["mrr@10"]["q2"] == pytest.approx(1 / 3)
    assert pq["map"]["q2"] == pytest.approx(1 / 3)

    # q4 is judged but missing from the run: 0 everywhere
    assert all(pq[m]["q4"] == 0.0 for m in METRICS)
    # q3 (no grade > 0) and q9 (not judged) are not evaluated
    assert all(set(pq[m]) == {"q1", "q2", "q4"} for m in METRICS)
    assert result.n_queries == 3


def test_hand_computed_means(qrels, run):
    means = evaluate(qrels, run, METRICS).means
    ndcg_q1 = (1 / math.log2(3) + 1) / (2.5 + 1 / math.log2(3))
    # means over q1, q2, q4 (q4 = 0); q3 is excluded, not counted as 0
    assert means["ndcg@3"] == pytest.approx((ndcg_q1 + 1 / 2 + 0) / 3)
    assert means["recall@2"] == pytest.approx((1 / 3 + 0 + 0) / 3)
    assert means["precision@2"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert means["mrr@2"] == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert means["mrr@10"] == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert means["map"] == pytest.approx(((1 / 2 + 2 / 3 + 3 / 5) / 3 + 1 / 3 + 0) / 3)
    assert list(means) == list(METRICS)


def test_tie_order_decides_mrr_cutoff():
    # three documents tied; trec_eval order is doc id descending: c, b, a
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}
    means = evaluate(qrels, run, ["mrr@1", "mrr@2", "mrr@3"]).means
    assert means == {"mrr@1": 0.0, "mrr@2": 0.0, "mrr@3": pytest.approx(1 / 3)}


def test_empty_ranking_counts_zero(qrels):
    result = evaluate(qrels, {"q1": {}, "q2": {}}, METRICS)
    assert result.means == dict.fromkeys(METRICS, 0.0)
    assert result.n_queries == 3


def test_default_metrics_and_to_dict(qrels, run):
    result = evaluate(qrels, run)
    assert result.metrics == DEFAULT_METRICS == ("ndcg@10", "recall@100", "mrr@10", "map")
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) == {"metrics", "n_queries", "means", "per_query"}
    assert data["means"] == result.means
    # with 100 and 10 as cutoffs every relevant document retrieved counts: q1 has 3 of 3
    assert result.per_query["recall@100"] == {"q1": 1.0, "q2": 1.0, "q4": 0.0}


def test_inputs_are_not_modified(qrels, run):
    qrels_before, run_before = copy.deepcopy(qrels), copy.deepcopy(run)
    evaluate(qrels, run, METRICS)
    assert qrels == qrels_before
    assert run == run_before


def test_evaluator_reuses_judgments(qrels, run):
    evaluator = Evaluator(qrels, METRICS)
    assert evaluator.query_ids == ["q1", "q2", "q4"]
    assert evaluator.evaluate(run) == evaluate(qrels, run, METRICS)
    assert evaluator.evaluate({}).means == dict.fromkeys(METRICS, 0.0)


def test_metric_names_are_parsed():
    assert parse_metric(" NDCG@10 ").name == "ndcg@10"
    assert parse_metric("map").k is None
    assert [m.name for m in parse_metrics(["map", "mrr@10", "map"])] == ["map", "mrr@10"]
    assert [m.name for m in parse_metrics("recall@5")] == ["recall@5"]


@pytest.mark.parametrize("name", ["foo", "ndcg", "ndcg@0", "ndcg@x", "map@10", "RR@10", ""])
def test_unknown_metric_lists_known_ones(name, qrels, run):
    with pytest.raises(
        ValueError, match="known metrics: ndcg@k, recall@k, precision@k, mrr@k, map"
    ):
        evaluate(qrels, run, [name])


def test_judgments_without_relevant_documents_are_rejected():
    with pytest.raises(DataError, match="grade > 0"):
        evaluate({"q1": {"d1": 0}}, {"q1": {"d1": 1.0}})


@pytest.mark.parametrize("grade", ["x", 1.5, None])
def test_non_integer_grade_is_rejected(grade):
    with pytest.raises(DataError, match="not an integer"):
        evaluate({"q1": {"d1": grade}}, {})


def test_nan_score_is_rejected(qrels):
    with pytest.raises(DataError, match="NaN"):
        evaluate(qrels, {"q1": {"d1": float("nan")}})


def test_import_is_light():
    code = (
        "import sys, aptrank, aptrank.evaluate; "
        "heavy = {'ir_measures', 'pytrec_eval', 'scipy', 'numpy', 'pandas', 'torch', 'rich'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
