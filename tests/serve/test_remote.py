"""``remote:<url>#<model>``: a served ranker as a pipeline stage and as a teacher."""

from __future__ import annotations

import pytest

from aptrank.client import ServiceError
from aptrank.errors import AptrankError
from aptrank.rankers import build_ranker, stages
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.pipeline import RerankPipeline
from aptrank.teach.teachers import RankerTeacher, teacher_id
from tests.helpers import CORPUS, QUERIES
from tests.serve.conftest import API_KEY
from tests.serve.fakes import OverlapScorer, overlap_ce

KEY = API_KEY


@pytest.fixture(scope="module")
def url(keyed_url: str) -> str:
    return keyed_url


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APTRANK_API_KEY", KEY)


def test_the_stage_parses_and_is_a_reranker():
    assert "remote" in stages()
    r = build_ranker("bm25>>remote:http://10.0.0.5:8000/#student[timeout=5,concurrency=2]@30")
    assert r.name == "bm25>>remote:http://10.0.0.5:8000#student@30"
    assert r.second.cfg.timeout == 5.0 and r.second.cfg.concurrency == 2
    assert not r.second.retrieves
    with pytest.raises(AptrankError, match="is a reranker"):
        r.second.rank({"q": "x"})
    with pytest.raises(AptrankError, match="remote:<http"):
        build_ranker("remote:http://host:1")  # no model
    with pytest.raises(AptrankError, match="remote needs a server"):
        build_ranker("remote")


def test_a_pipeline_with_a_remote_stage_ranks_as_the_local_one(url: str):
    remote = build_ranker(f"bm25>>remote:{url}#ce@3").index(CORPUS)
    local = RerankPipeline(BM25Ranker(), overlap_ce(), 3).index(CORPUS)
    got, expected = remote.rank(QUERIES, 5), local.rank(QUERIES, 5)
    assert set(got) == set(QUERIES)
    for qid in QUERIES:
        assert got[qid] == pytest.approx(expected[qid], abs=1e-6)


def test_a_served_model_is_a_teacher_keyed_on_its_fingerprint(url: str):
    teacher = RankerTeacher(f"remote:{url}#ce", CORPUS)
    pairs = [("cats sleeping", CORPUS["d1"].full_text), ("stock", CORPUS["d4"].full_text)]
    expected = OverlapScorer().score(pairs)
    assert teacher.score(pairs) == pytest.approx(expected, abs=1e-6)
    config = teacher.config()["ranker"]
    assert config["model"] == "ce" and len(config["fingerprint"]) == 12
    other = RankerTeacher(f"remote:{url}#fused", CORPUS)
    assert teacher_id(other) != teacher_id(teacher)
    again = RankerTeacher(f"remote:{url}#ce", CORPUS)
    assert teacher_id(again) == teacher_id(teacher)


def test_the_key_comes_from_the_named_variable(url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTHER_KEY", KEY)
    monkeypatch.delenv("APTRANK_API_KEY")
    ranker = build_ranker(f"remote:{url}#ce[api_key_env=OTHER_KEY]").index(CORPUS)
    assert ranker.rerank({"q": "cats"}, {"q": {"d1": 0.0}})["q"]["d1"] > 1
    keyless = build_ranker(f"remote:{url}#ce").index(CORPUS)
    with pytest.raises(ServiceError, match="401 unauthorized"):
        keyless.rerank({"q": "cats"}, {"q": {"d1": 0.0}})


def test_a_model_that_does_not_rerank_is_refused(url: str):
    ranker = build_ranker(f"remote:{url}#bm25")
    with pytest.raises(AptrankError, match="offers \\['search'\\] for this model, not rerank"):
        ranker.config()
    with pytest.raises(ServiceError, match="404 not_found"):
        build_ranker(f"remote:{url}#missing").config()
