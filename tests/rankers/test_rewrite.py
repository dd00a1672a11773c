"""The rewrite ranker stage with a tiny random-weight Llama, in pipelines over the tiny corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from aptrank.errors import AptrankError
from aptrank.rankers import PipelineError, build_ranker
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.pipeline import RewritePipeline
from aptrank.rankers.rewrite import RewriteConfig, RewriteRanker
from tests.helpers import CORPUS, QUERIES
from tests.teach.tiny_llm import tiny_llama_folder


@pytest.fixture(scope="module")
def policy(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    return tiny_llama_folder(tmp_path_factory.mktemp("tiny") / "llama")


def test_rewrite_then_bm25_returns_a_run_and_caches_rewrites(policy):
    spec = f"rewrite[model={policy},max_new_tokens=6]>>bm25"
    pipe = build_ranker(spec)
    assert isinstance(pipe, RewritePipeline) and pipe.retrieves
    run = pipe.index(CORPUS).rank(QUERIES, k=3)
    assert set(run) == set(QUERIES)
    assert all(len(docs) <= 3 and set(docs) <= set(CORPUS) for docs in run.values())
    assert pipe.first.generated == len(QUERIES)

    again = build_ranker(spec).index(CORPUS)
    assert again.rank(QUERIES, k=3) == run  # greedy + cache: the same rewrites
    assert again.first.generated == 0

    # another mode reuses the cached answers
    append = build_ranker(f"rewrite[model={policy},max_new_tokens=6,mode=append]>>bm25")
    rewritten = append.first.rewrite(QUERIES)
    assert append.first.generated == 0
    assert all(rewritten[q].startswith(QUERIES[q]) for q in QUERIES)


def test_a_different_decoding_setting_is_a_cache_miss(policy):
    first = RewriteRanker(RewriteConfig(model=str(policy), max_new_tokens=4))
    first.rewrite(QUERIES)
    other = RewriteRanker(RewriteConfig(model=str(policy), max_new_tokens=5))
    other.rewrite(QUERIES)
    assert first.generated == other.generated == len(QUERIES)


class Scripted(RewriteRanker):
    """Answers from a table instead of a model (to test parsing and modes)."""

    def __init__(self, answers: dict[str, str], **options) -> None:
        super().__init__(RewriteConfig(cache=False, **options))
        self.table = answers
        self._fingerprint = "scripted"

    def _generate(self, texts):
        return [self.table[t] for t in texts]


def test_unparseable_answers_keep_the_original_query():
    answers = {
        "cats sleeping": "Rewritten query: cat naps",
        "dog barking": "...",
        "stock market": "",
    }
    stage = Scripted(answers)
    assert stage.rewrite(QUERIES) == {
        "q1": "cat naps",
        "q2": "dog barking",
        "q3": "stock market",
    }
    assert stage.fallbacks == 2
    assert Scripted(answers, mode="append").rewrite({"q1": "cats sleeping"}) == {
        "q1": "cats sleeping cat naps"
    }


def test_rewritten_queries_reach_the_ranker():
    stage = Scripted({"dog barking": "stock market"})
    pipe = RewritePipeline(stage, BM25Ranker()).index(CORPUS)
    direct = BM25Ranker().index(CORPUS).rank({"q2": "stock market"}, k=3)
    assert pipe.rank({"q2": "dog barking"}, k=3) == direct
    cands = {"q2": {"d2": 0.0, "d4": 0.0}}
    reranked = pipe.rerank({"q2": "dog barking"}, cands)
    assert reranked["q2"]["d4"] > reranked["q2"]["d2"]  # scored with the rewrite


def test_later_stages_see_the_original_query():
    pipe = build_ranker("rewrite>>bm25>>bm25@2")
    assert pipe.name.endswith(">>bm25>>bm25@2")
    assert isinstance(pipe.first, RewritePipeline)


@pytest.mark.parametrize(
    "spec",
    ["rewrite", "bm25>>rewrite", "rewrite>>bm25@10", "rewrite>>rewrite>>bm25", "rrf(rewrite,bm25)"],
)
def test_misplaced_rewriters_are_rejected(spec):
    with pytest.raises(PipelineError, match="rewriter"):
        build_ranker(spec)


def test_a_rewriter_alone_ranks_nothing():
    with pytest.raises(AptrankError, match="put a ranker after it"):
        RewriteRanker().rank({"q": "x"})
    with pytest.raises(AptrankError, match="mode"):
        build_ranker("rewrite[mode=prepend]>>bm25")
