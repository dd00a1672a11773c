from __future__ import annotations

import pytest

from aptrank.data.runs import ranked
from aptrank.rankers.base import Ranker
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.fusion import FusionRanker, rrf
from aptrank.rankers.pipeline import RerankPipeline
from tests.helpers import CORPUS, QUERIES


def test_rrf_by_hand():
    # run A ranks x, y; run B ranks y, z (tie on score: doc id descending puts z first)
    a = {"q": {"x": 3.0, "y": 1.0}}
    b = {"q": {"y": 2.0, "z": 2.0}}
    fused = rrf([a, b], k=60)
    assert fused["q"]["x"] == pytest.approx(1 / 61)
    assert fused["q"]["y"] == pytest.approx(1 / 62 + 1 / 62)  # rank 2 in A, rank 2 in B
    assert fused["q"]["z"] == pytest.approx(1 / 61)
    assert ranked(fused["q"])[0][0] == "y"


def test_rrf_does_not_mutate_inputs():
    a = {"q": {"x": 1.0}}
    rrf([a, a])
    assert a == {"q": {"x": 1.0}}


class Fixed(Ranker):
    """Scores documents from a fixed table; records what it was asked to rerank."""

    def __init__(self, name: str, scores: dict[str, float]) -> None:
        super().__init__()
        self.name, self.scores, self.seen = name, scores, []

    def rank(self, queries, k=100):
        top = dict(ranked(self.scores)[:k])
        return {q: dict(top) for q in queries}

    def rerank(self, queries, candidates):
        self.seen.append({q: set(d) for q, d in candidates.items()})
        return {q: {d: self.scores.get(d, 0.0) for d in docs} for q, docs in candidates.items()}


def test_rerank_pipeline_uses_the_first_stage_top_k_and_second_stage_scores():
    first = Fixed("first", {"a": 4, "b": 3, "c": 2, "d": 1})
    second = Fixed("second", {"a": 1, "b": 2, "c": 3, "d": 4})
    pipe = RerankPipeline(first, second, depth=3).index(CORPUS)
    run = pipe.rank({"q": "x"}, k=2)
    assert second.seen == [{"q": {"a", "b", "c"}}]  # d was below the depth
    assert run == {"q": {"c": 3, "b": 2}}
    assert pipe.name == "first>>second@3"


def test_fusion_ranker_of_real_bm25_variants():
    fused = FusionRanker([BM25Ranker(), BM25Ranker()], k=60).index(CORPUS)
    run = fused.rank(QUERIES, k=3)
    single = BM25Ranker().index(CORPUS).rank(QUERIES, k=3)
    for qid in QUERIES:
        assert [d for d, _ in ranked(run[qid])] == [d for d, _ in ranked(single[qid])]


def test_rerank_keeps_the_first_stage_tail_in_order_below_the_reranked_head():
    first = Fixed("first", {"a": 5, "b": 4, "c": 3, "d": 2, "e": 2, "f": 1})
    second = Fixed("second", {"a": -1.0, "b": 10.0, "c": 0.5})
    pipe = RerankPipeline(first, second, depth=3).index(CORPUS)
    run = pipe.rank({"q": "x"}, k=6)["q"]
    order = [d for d, _ in ranked(run)]
    # the head in the second stage's order, then A's tail with its tie (e before d: doc id desc)
    assert order == ["b", "c", "a", "e", "d", "f"]
    assert max(run[d] for d in "def") < min(run[d] for d in "abc")
    assert run["d"] == run["e"] and run["a"] - run["e"] > 0  # the shift keeps A's ties
    assert second.seen == [{"q": {"a", "b", "c"}}]
    # as a reranker of given candidates: every candidate comes back, the tail in A's order
    again = pipe.rerank({"q": "x"}, {"q": dict.fromkeys("abcdef", 0.0)})["q"]
    assert [d for d, _ in ranked(again)] == order


def test_rerank_depth_larger_than_k_still_cuts_to_k():
    first = Fixed("first", {"a": 4, "b": 3, "c": 2, "d": 1})
    second = Fixed("second", {"a": 1, "b": 2, "c": 3, "d": 4})
    run = RerankPipeline(first, second, depth=10).index(CORPUS).rank({"q": "x"}, k=2)
    assert run == {"q": {"d": 4, "c": 3}}
