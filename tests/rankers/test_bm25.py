from __future__ import annotations

import pytest

from aptrank.data.runs import ranked
from aptrank.rankers.bm25 import BM25Config, BM25Ranker
from tests.helpers import CORPUS, QUERIES


@pytest.fixture()
def bm25() -> BM25Ranker:
    return BM25Ranker().index(CORPUS)


def test_ranks_matching_documents_first(bm25: BM25Ranker):
    run = bm25.rank(QUERIES, k=3)
    assert ranked(run["q1"])[0][0] == "d1"  # 'cats' + 'sleeping' -> stems cat, sleep
    assert ranked(run["q2"])[0][0] == "d2"
    assert set(run["q3"]) >= {"d4"} and ranked(run["q3"])[0][0] == "d4"
    assert all(len(scores) <= 3 for scores in run.values())


def test_documents_without_query_terms_are_not_returned(bm25: BM25Ranker):
    run = bm25.rank({"q": "mailman"}, k=10)
    assert list(run["q"]) == ["d2"]


def test_stopword_only_and_unknown_queries_get_empty_rankings(bm25: BM25Ranker):
    run = bm25.rank({"stop": "the and of", "oov": "zyzzyva"}, k=10)
    assert run == {"stop": {}, "oov": {}}


def test_rerank_scores_match_rank_scores(bm25: BM25Ranker):
    run = bm25.rank(QUERIES, k=5)
    again = bm25.rerank(QUERIES, run)
    for qid in run:
        assert again[qid] == pytest.approx(run[qid])


def test_rerank_keeps_only_the_candidates(bm25: BM25Ranker):
    out = bm25.rerank(QUERIES, {"q1": {"d2": 9.0, "d3": 1.0, "missing": 1.0}})
    assert set(out) == {"q1"} and set(out["q1"]) == {"d2", "d3"}
    assert out["q1"]["d3"] > out["q1"]["d2"] == 0.0


def test_index_is_cached_and_reused(monkeypatch: pytest.MonkeyPatch):
    first = BM25Ranker().index(CORPUS).rank(QUERIES, k=5)
    import bm25s

    def boom(*args, **kwargs):
        raise AssertionError("index rebuilt instead of loaded from the cache")

    monkeypatch.setattr(bm25s.BM25, "index", boom)
    second = BM25Ranker().index(CORPUS).rank(QUERIES, k=5)
    assert second == first


def test_parameters_change_the_cache_key_and_the_scores():
    a = BM25Ranker().index(CORPUS).rank(QUERIES, k=5)
    b = BM25Ranker(BM25Config(k1=0.5, b=0.1)).index(CORPUS).rank(QUERIES, k=5)
    assert a["q1"] != b["q1"]


def test_rank_before_index_is_a_clear_error():
    from aptrank.errors import AptrankError

    with pytest.raises(AptrankError, match="index"):
        BM25Ranker().rank(QUERIES)
