"""Comparison of several systems: schemas, markdown and rich tables, significance markers."""

from __future__ import annotations

import copy
import json
import math

import pytest
from rich.console import Console
from rich.table import Table

from aptrank.evaluate import DEFAULT_METRICS, Comparison, compare, evaluate

N = 20
# every query: one relevant document "rel" (grade 1) and one judged wrong "non" (grade 0)
QRELS = {f"q{i:02d}": {"rel": 1, "non": 0} for i in range(N)}
OTHERS = {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0}
# baseline: "rel" at rank 5 everywhere -> RR 1/5, nDCG@10 1/log2(6)
BASELINE = {q: {**OTHERS, "rel": 1.0} for q in QRELS}
# better: "rel" at rank 1 on even queries, rank 2 on odd ones -> mrr@10 = (1 + 1/2) / 2 = 0.75
BETTER = {q: {**OTHERS, "rel": 9.0 if i % 2 == 0 else 4.5} for i, q in enumerate(QRELS)}
RUNS = {"bm25": BASELINE, "better": BETTER, "same": copy.deepcopy(BASELINE)}


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(QRELS, RUNS, baseline="bm25")


def test_means_dict_is_the_metrics_json_schema(comparison):
    means = comparison.means_dict()
    assert list(means) == ["bm25", "better", "same"]
    assert all(list(values) == list(DEFAULT_METRICS) for values in means.values())
    assert json.loads(json.dumps(means)) == means
    assert means["bm25"]["mrr@10"] == pytest.approx(1 / 5)
    assert means["bm25"]["ndcg@10"] == pytest.approx(1 / math.log2(6))
    assert means["better"]["mrr@10"] == pytest.approx((1 + 1 / 2) / 2)
    # nDCG@10: rank 1 -> 1, rank 2 -> 1/log2(3)
    assert means["better"]["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert means["better"]["recall@100"] == 1.0
    assert means["better"] == evaluate(QRELS, BETTER).means


def test_per_query_dict_and_to_dict(comparison):
    per_query = comparison.per_query_dict()
    assert per_query["better"]["mrr@10"]["q00"] == 1.0
    assert per_query["better"]["mrr@10"]["q01"] == 0.5
    assert set(per_query["same"]["map"]) == set(QRELS)
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["baseline"] == "bm25"
    assert data["n_queries"] == N
    assert set(data["significance"]) == {"better", "same"}
    assert data["significance"]["better"]["mrr@10"]["significant"] is True
    assert data["significance"]["same"]["mrr@10"]["p_value"] == 1.0


def test_significance_against_the_baseline(comparison):
    better, same = comparison.tests["better"], comparison.tests["same"]
    assert "bm25" not in comparison.tests
    assert better["mrr@10"].significant
    assert better["mrr@10"].mean_delta == pytest.approx(0.75 - 0.2)
    assert better["mrr@10"].p_randomization < 0.05
    assert not better["recall@100"].significant  # both retrieve "rel": recall 1 everywhere
    assert all(t.p_value == 1.0 and not t.significant for t in same.values())


def test_markdown_bolds_the_best_and_marks_significance(comparison):
    md = comparison.to_markdown()
    lines = md.splitlines()
    assert lines[0] == "| system | ndcg@10 | recall@100 | mrr@10 | map |"
    assert lines[2].startswith("| bm25 (baseline) | 0.3869 |")  # 1/log2(6) = 0.38685
    better_row = lines[3]
    assert "| **0.7500**† |" in better_row  # best mrr@10, significantly better than bm25
    assert "| **1.0000** |" in better_row  # recall@100 ties at 1: bold, no marker
    assert "| 0.2000 |" in lines[4]  # "same" is not marked
    assert "†" not in lines[4]
    legend = lines[-1]
    assert legend.startswith("Best value per column in bold. † significantly different from bm25")
    assert "paired t-test" in legend and "p < 0.05" in legend and f"{N} queries" in legend


def test_rich_table(comparison):
    table = comparison.to_rich_table()
    assert isinstance(table, Table)
    assert table.row_count == 3
    assert [c.header for c in table.columns] == ["system", *DEFAULT_METRICS]
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "0.7500†" in text
    assert "bm25 (baseline)" in text


def test_without_baseline_nothing_is_tested():
    result = compare(QRELS, RUNS)
    assert result.tests == {}
    assert "†" not in result.to_markdown()
    assert result.legend() == f"Best value per column in bold. {N} queries."


def test_holm_correction_and_randomization_method():
    plain = compare(QRELS, RUNS, "bm25", ["mrr@10"], method="randomization")
    holm = compare(QRELS, RUNS, "bm25", ["mrr@10"], method="randomization", correction="holm")
    raw, adjusted = plain.tests["better"]["mrr@10"], holm.tests["better"]["mrr@10"]
    assert raw.p_value == raw.p_randomization
    # two systems: the smaller p is doubled, the other (p = 1) stays capped at 1
    assert adjusted.p_value == pytest.approx(2 * raw.p_value)
    assert adjusted.correction == "holm" and adjusted.significant
    assert "Holm–Bonferroni across 2 systems" in holm.legend()


def test_inputs_are_not_modified():
    qrels, runs = copy.deepcopy(QRELS), copy.deepcopy(RUNS)
    compare(qrels, runs, "bm25")
    assert qrels == QRELS and runs == RUNS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": "nope"}, "baseline 'nope' is not one of the runs: bm25, better, same"),
        ({"method": "wilcoxon"}, "unknown test"),
        ({"correction": "bonferroni"}, "unknown correction"),
        ({"metrics": ["ndcg@ten"]}, "unknown metric"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare(QRELS, RUNS, **kwargs)


def test_no_runs():
    with pytest.raises(ValueError, match="at least one run"):
        compare(QRELS, {})
