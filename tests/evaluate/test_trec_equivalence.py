"""aptrank's figures equal trec_eval's (pytrec_eval on TREC files) under aptrank's convention."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from aptrank.data.runs import read_trec_run, write_trec_run
from aptrank.evaluate import DEFAULT_METRICS, evaluate
from tests.evaluate.trec_reference import (
    cut_run_file,
    reference_means,
    reference_per_query,
    trec_measure,
)

METRICS = (*DEFAULT_METRICS, "ndcg@3", "recall@5", "precision@5", "mrr@3")


def graded_fixture(seed: int = 7) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """Grades 0-2, scores on a 0.1 grid (many ties, also across the cutoffs), a query judged all
    0, a query missing from the run, a query with more than 10 relevant documents."""
    rng = random.Random(seed)
    docs = [f"d{i:03d}" for i in range(60)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(15):
        qid = f"q{q:02d}"
        qrels[qid] = {d: rng.choice([0, 0, 1, 2]) for d in rng.sample(docs, 20)}
        run[qid] = {d: round(rng.random(), 1) for d in rng.sample(docs, 40)}
    qrels["q00"] = dict.fromkeys(qrels["q00"], 0)  # nothing relevant: not evaluated
    del run["q01"]  # judged, not retrieved: counts 0
    qrels["q02"] = dict.fromkeys(docs[:30], 1)  # 30 relevant
    run["q02"] = {d: round(rng.random(), 1) for d in docs[:50]}
    run["q99"] = {"d001": 1.0}  # not judged: ignored
    return qrels, run


def write_qrels(qrels: dict[str, dict[str, int]], path: Path) -> Path:
    lines = [f"{q} 0 {d} {g}\n" for q, judged in qrels.items() for d, g in judged.items()]
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    qrels, run = graded_fixture()
    return write_qrels(qrels, tmp_path / "qrels.txt"), write_trec_run(
        run, tmp_path / "run.txt", "t"
    )


def test_fixture_exercises_ties_and_edge_cases():
    qrels, run = graded_fixture()
    tied = sum(len(scores) - len(set(scores.values())) for scores in run.values())
    assert tied > 100
    assert "q01" not in run
    assert max(qrels["q00"].values()) == 0


def test_means_equal_trec_eval(files):
    qrels_path, run_path = files
    expected = reference_means(qrels_path, run_path, METRICS)
    qrels, _ = graded_fixture()
    result = evaluate(qrels, read_trec_run(run_path), METRICS)
    assert result.n_queries == 14  # 15 judged queries, q00 has nothing relevant
    for metric in METRICS:
        assert result.means[metric] == pytest.approx(expected[metric], abs=1e-6), metric


def test_per_query_equal_trec_eval(files):
    qrels_path, run_path = files
    expected = reference_per_query(qrels_path, run_path, METRICS)
    qrels, run = graded_fixture()
    result = evaluate(qrels, run, METRICS)  # the in-memory run: repr scores round-trip exactly
    for metric in METRICS:
        assert result.per_query[metric].keys() == expected[metric].keys()
        for qid, value in expected[metric].items():
            assert result.per_query[metric][qid] == pytest.approx(value, abs=1e-6), (metric, qid)


def test_reference_check_is_sensitive(files, tmp_path):
    """The comparison would catch a wrong tie order: with ties broken by doc id ascending, the
    figures at small cutoffs differ from trec_eval's."""
    qrels_path, run_path = files
    qrels, run = graded_fixture()

    # nudge tied scores (0.1 grid) so that ties fall in doc id ascending order
    def nudge(docid: str) -> float:
        return 1e-6 * (1000 - int(docid[1:]))

    ascending = {q: {d: s + nudge(d) for d, s in scores.items()} for q, scores in run.items()}
    moved = evaluate(qrels, ascending, ["ndcg@3", "mrr@3"]).means
    expected = reference_means(qrels_path, run_path, ["ndcg@3", "mrr@3"])
    assert moved != pytest.approx(expected, abs=1e-6)


def test_reference_helpers(tmp_path):
    assert [trec_measure(m) for m in METRICS] == [
        "ndcg_cut_10", "recall_100", "recip_rank", "map", "ndcg_cut_3", "recall_5", "P_5",
        "recip_rank",
    ]  # fmt: skip
    run_path = tmp_path / "run.txt"
    run_path.write_text("q 0 a 1 1.0 t\nq 0 b 2 1.0 t\nq 0 c 3 2.0 t\n", encoding="utf-8")
    cut = cut_run_file(run_path, 2, tmp_path / "cut.txt").read_text(encoding="utf-8")
    assert [line.split()[2] for line in cut.splitlines()] == ["c", "b"]
