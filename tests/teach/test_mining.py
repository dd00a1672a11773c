"""Candidate mining: the interleaved union of several rankers' top k."""

from __future__ import annotations

import doctest
from collections.abc import Mapping

import pytest

from aptrank.data.runs import ranked
from aptrank.rankers import Ranker
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.dense import DenseConfig, DenseRanker
from aptrank.teach import mining
from aptrank.teach.mining import hard_negatives, interleave, mine_candidates, mine_runs
from aptrank.types import Query, Run
from tests.helpers import CORPUS, QUERIES, KeywordEncoder


class FixedRanker(Ranker):
    """Returns a fixed ranking per query (cut at k) and records the depths it was asked for."""

    def __init__(self, name: str, order: Mapping[str, list[str]]) -> None:
        super().__init__()
        self.name = name
        self.order = order
        self.depths: list[int] = []

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        self.depths.append(k)
        return {q: {d: float(-i) for i, d in enumerate(self.order.get(q, [])[:k])} for q in queries}

    def rerank(self, queries, candidates) -> Run:
        raise NotImplementedError


def fixed() -> tuple[FixedRanker, FixedRanker]:
    lexical = FixedRanker("lex", {"q1": ["d1", "d2", "d3", "d4"], "q2": ["d4"]})
    dense = FixedRanker("den", {"q1": ["d3", "d1", "d:5/<x>", "d2"], "q2": []})
    return lexical, dense


def test_interleaves_by_rank_without_repeats():
    out = mine_candidates(CORPUS, {"q1": "x", "q2": "y"}, fixed(), k=3)
    assert out == {"q1": ["d1", "d3", "d2", "d:5/<x>"], "q2": ["d4"]}


def test_k_limits_each_ranker_and_a_prefix_keeps_both_sources():
    out = mine_candidates(CORPUS, {"q1": "x"}, fixed(), k=1)
    assert out == {"q1": ["d1", "d3"]}
    full = mine_candidates(CORPUS, {"q1": "x"}, fixed(), k=4)["q1"]
    assert full == ["d1", "d3", "d2", "d:5/<x>", "d4"]  # d1, d3 and d2 come twice, kept once


def test_exclude_source_drops_it_and_still_takes_k_from_each():
    lexical, dense = fixed()
    queries = {"q1": Query("x", {"source_doc": "d1"}), "q2": Query("y")}
    out = mine_candidates(CORPUS, queries, (lexical, dense), k=2, exclude_source=True)
    assert out == {"q1": ["d2", "d3", "d:5/<x>"], "q2": ["d4"]}
    assert lexical.depths == [3]
    kept = mine_candidates(CORPUS, queries, fixed(), k=2)
    assert kept["q1"] == ["d1", "d3", "d2"]


def test_every_query_gets_a_list_in_input_order():
    out = mine_candidates(CORPUS, {"q9": "none", "q2": "y", "q1": "x"}, fixed(), k=2)
    assert list(out) == ["q9", "q2", "q1"] and out["q9"] == []


def test_bm25_and_dense_union_on_the_toy_corpus():
    dense = DenseRanker(DenseConfig(model="keyword"), encoder=KeywordEncoder())
    runs = mine_runs(CORPUS, QUERIES, ("bm25", dense), k=2)
    assert list(runs) == ["bm25", "dense:keyword"]
    out = mine_candidates(CORPUS, QUERIES, ("bm25", dense), k=2)
    assert out == interleave(list(runs.values()), k=2)
    for qid in QUERIES:
        tops = [[d for d, _ in ranked(run[qid])] for run in runs.values()]
        assert set(out[qid]) == set(tops[0]) | set(tops[1]) and out[qid][0] == tops[0][0]
    assert out == {"q1": ["d1", "d3"], "q2": ["d2", "d3"], "q3": ["d4", "d:5/<x>"]}
    assert out == mine_candidates(CORPUS, QUERIES, ("bm25", dense), k=2)  # deterministic


def test_progress_reaches_the_dense_stage():
    seen: list[str] = []

    def factory(desc: str):
        seen.append(desc)
        return lambda done, total: None

    dense = DenseRanker(DenseConfig(model="keyword"), encoder=KeywordEncoder())
    mine_candidates(CORPUS, QUERIES, (BM25Ranker(), dense), k=1, progress=factory)
    assert seen == ["mining dense:keyword: encoding corpus"]


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be"):
        mine_candidates(CORPUS, QUERIES, fixed(), k=0)


def test_interleave_handles_queries_missing_from_a_run():
    assert interleave([{"a": {"x": 1.0}}, {"b": {"y": 1.0}}]) == {"a": ["x"], "b": ["y"]}


def test_hard_negatives_skip_relevant_and_unjudged_queries():
    run = {"q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0, "d4": 0.5}, "q9": {"d1": 1.0}}
    qrels = {"q1": {"d1": 2, "d2": 0, "d4": 1}}
    assert hard_negatives(run, qrels, 2) == {"q1": ["d2", "d3"]}
    assert hard_negatives(run, qrels, 1) == {"q1": ["d2"]}


def test_doctests():
    result = doctest.testmod(mining, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
