from __future__ import annotations

import numpy as np
import pytest

from aptrank.data.runs import ranked
from aptrank.rankers.dense import DenseConfig, DenseRanker
from tests.helpers import CORPUS, QUERIES, KeywordEncoder


def make(encoder: KeywordEncoder | None = None, **cfg) -> DenseRanker:
    return DenseRanker(DenseConfig(model="keyword", **cfg), encoder=encoder or KeywordEncoder())


def test_ranks_by_cosine():
    run = make().index(CORPUS).rank(QUERIES, k=2)
    assert ranked(run["q1"])[0][0] == "d1"  # cat + sleep
    assert ranked(run["q2"])[0][0] == "d2"  # dog + bark
    assert ranked(run["q3"])[0][0] == "d4"  # stock + market
    assert all(len(v) == 2 for v in run.values())


def test_scores_are_cosines():
    enc = KeywordEncoder()
    ranker = make(enc).index(CORPUS)
    run = ranker.rank({"q": "cats"}, k=len(CORPUS))
    doc_ids = sorted(CORPUS)
    docs = enc.encode([CORPUS[d].full_text for d in doc_ids])
    q = enc.encode(["cats"])[0]
    expected = {d: float(docs[i] @ q) for i, d in enumerate(doc_ids)}
    assert run["q"] == pytest.approx(expected)


def test_rerank_matches_rank_and_keeps_candidates():
    ranker = make().index(CORPUS)
    run = ranker.rank(QUERIES, k=5)
    again = ranker.rerank(QUERIES, run)
    for qid in run:
        assert again[qid] == pytest.approx(run[qid])
    out = ranker.rerank(QUERIES, {"q2": {"d1": 0.0, "unknown": 1.0}})
    assert list(out) == ["q2"] and list(out["q2"]) == ["d1"]


def test_embeddings_are_cached_on_disk():
    enc = KeywordEncoder()
    make(enc).index(CORPUS)
    assert enc.calls == [len(CORPUS)]
    enc2 = KeywordEncoder()
    make(enc2).index(CORPUS)
    assert enc2.calls == []  # loaded, not encoded


def test_interrupted_encoding_resumes_from_finished_chunks():
    class Failing(KeywordEncoder):
        def encode(self, texts, batch_size=64, show_progress=False):
            if len(self.calls) == 1:
                raise KeyboardInterrupt
            return super().encode(texts, batch_size, show_progress)

    with pytest.raises(KeyboardInterrupt):
        make(Failing(), chunk_size=2).index(CORPUS)
    enc = KeywordEncoder()
    ranker = make(enc, chunk_size=2).index(CORPUS)
    assert enc.calls == [2, 1]  # the first chunk of 2 was kept; 3 documents remained
    direct = KeywordEncoder().encode([CORPUS[d].full_text for d in sorted(CORPUS)])
    np.testing.assert_allclose(ranker._emb, direct, atol=1e-6)


def test_changed_corpus_gets_new_embeddings():
    enc = KeywordEncoder()
    make(enc).index(CORPUS)
    changed = dict(CORPUS)
    changed["d6"] = changed.pop("d4")
    make(enc).index(changed)
    assert enc.calls == [len(CORPUS), len(changed)]


def test_progress_is_reported():
    seen = []
    ranker = DenseRanker(
        DenseConfig(model="keyword", chunk_size=2),
        encoder=KeywordEncoder(),
        progress=lambda done, total: seen.append((done, total)),
    )
    ranker.index(CORPUS)
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_faiss_search_agrees_with_exact():
    pytest.importorskip("faiss")
    exact = make().index(CORPUS).rank(QUERIES, k=3)
    flat = make(search="faiss").index(CORPUS).rank(QUERIES, k=3)
    for qid in exact:
        assert flat[qid] == pytest.approx(exact[qid], abs=1e-5)


def test_chunks_follow_one_global_length_order():
    enc = KeywordEncoder()
    seen: list[list[int]] = []
    original = enc.encode

    def spy(texts, batch_size=64, show_progress=False):
        seen.append([len(t) for t in texts])
        return original(texts, batch_size, show_progress)

    enc.encode = spy  # type: ignore[method-assign]
    make(enc, chunk_size=2).index(CORPUS)
    lengths = [n for chunk in seen for n in chunk]
    assert lengths == sorted(lengths, reverse=True)  # longest first, across chunks


def test_query_embeddings_are_cached_across_rankers():
    first = KeywordEncoder()
    run = make(first).index(CORPUS).rank(QUERIES, k=3)
    assert first.calls[-1] == len(QUERIES)
    second = KeywordEncoder()
    ranker = make(second).index(CORPUS)  # a new process would see the same cache
    assert ranker.rank(QUERIES, k=3) == run
    assert second.calls == []  # neither documents nor queries encoded again
    ranker.rank({"new": "pet stocks", "q1": QUERIES["q1"], "dup": "pet stocks"}, k=3)
    assert second.calls == [1]  # only the unseen text, once


def test_query_cache_can_be_switched_off():
    enc = KeywordEncoder()
    ranker = make(enc, query_cache=False).index(CORPUS)
    ranker.rank(QUERIES, k=2)
    ranker.rank(QUERIES, k=2)
    assert enc.calls[-2:] == [len(QUERIES), len(QUERIES)]
