from __future__ import annotations

from pathlib import Path

import pytest

from aptrank.errors import AptrankError
from aptrank.rankers import build_ranker
from aptrank.rankers.cross_encoder import CrossEncoderConfig, CrossEncoderRanker
from tests.helpers import CORPUS, QUERIES
from tests.tiny_models import tiny_bert_folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_folder(tmp_path_factory.mktemp("tiny"))


def test_cross_encoder_is_a_reranker_only(tiny: Path):
    ce = CrossEncoderRanker(CrossEncoderConfig(model=str(tiny))).index(CORPUS)
    assert not ce.retrieves
    with pytest.raises(AptrankError, match="reranker"):
        ce.rank(QUERIES)


def test_rerank_scores_exactly_the_candidates_and_reproduces(tiny: Path):
    seen = []
    ce = CrossEncoderRanker(
        CrossEncoderConfig(model=str(tiny), max_length=32, batch_size=2),
        progress=lambda done, total: seen.append((done, total)),
    ).index(CORPUS)
    candidates = {"q1": {"d1": 1.0, "d3": 0.5, "gone": 0.1}, "q2": {"d2": 1.0}}
    run = ce.rerank(QUERIES, candidates)
    assert set(run) == {"q1", "q2"}
    assert set(run["q1"]) == {"d1", "d3"} and set(run["q2"]) == {"d2"}
    assert seen[-1] == (3, 3)
    again = CrossEncoderRanker(CrossEncoderConfig(model=str(tiny), max_length=32)).index(CORPUS)
    rerun = again.rerank(QUERIES, candidates)
    for qid in run:
        assert rerun[qid] == pytest.approx(run[qid], abs=1e-6)  # the new head is seeded


def test_pair_scores_do_not_depend_on_batch_order(tiny: Path):
    from aptrank.rankers.encoders import load_pair_scorer

    scorer = load_pair_scorer(str(tiny), "torch", max_length=32)
    pairs = [("cats", CORPUS[d].full_text) for d in sorted(CORPUS)]
    forward = scorer.score(pairs, batch_size=2)
    backward = scorer.score(pairs[::-1], batch_size=3)[::-1]
    assert forward == pytest.approx(backward, abs=1e-5)


def test_bm25_then_cross_encoder_pipeline(tiny: Path):
    pipe = build_ranker(f"bm25>>ce:{tiny}[max_length=32]@2").index(CORPUS)
    run = pipe.rank(QUERIES, k=10)
    bm25 = build_ranker("bm25").index(CORPUS).rank(QUERIES, k=2)
    for qid in QUERIES:
        assert set(run[qid]) == set(bm25[qid])  # reranked candidates, nothing else


def test_missing_model_is_a_clear_error(tmp_path: Path):
    from aptrank.errors import ModelNotFoundError

    ce = CrossEncoderRanker(CrossEncoderConfig(model=str(tmp_path / "nope"))).index(CORPUS)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        ce.rerank(QUERIES, {"q1": {"d1": 1.0}})
