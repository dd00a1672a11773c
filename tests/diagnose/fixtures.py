"""Small datasets for the orchestration, report and CLI tests."""

from __future__ import annotations

from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.dense import DenseConfig, DenseRanker
from aptrank.types import Dataset, Doc, Query
from tests.helpers import CORPUS, QRELS, QUERIES, KeywordEncoder

#: NegConstraint in miniature: the violator (grade 0) shares every keyword with the query.
CONSTRAINT_CORPUS = {
    "s1": Doc("a cat sleeping alone in the sun", meta={"year": 2001}),
    "v1": Doc("a cat and a dog sleeping together", meta={"year": 1990}),
    "s2": Doc("stock prices explained", meta={"year": 2015}),
    "v2": Doc("stock market crash and pet food", meta={"year": 2010}),
    "x": Doc("dogs bark at the mailman", meta={"year": 2020}),
}
CONSTRAINT_QUERIES = {
    "c1": Query("cat sleeping, without a dog", meta={"category": "A"}),
    "c2": Query("stock market, but don't mention pet food", meta={"category": "B"}),
    "c3": Query("dog barking", meta={"category": "B"}),
}
CONSTRAINT_QRELS = {"c1": {"s1": 2, "v1": 0}, "c2": {"s2": 2, "v2": 0}, "c3": {"x": 0}}


def toy_dataset() -> Dataset:
    queries = {q: Query(t) for q, t in QUERIES.items()}
    return Dataset("toy", CORPUS, queries, QRELS, "test")


def constraint_dataset() -> Dataset:
    return Dataset("mini-neg", CONSTRAINT_CORPUS, CONSTRAINT_QUERIES, CONSTRAINT_QRELS, "test")


def rankers() -> dict:  # type: ignore[type-arg]
    keyword = DenseRanker(DenseConfig(model="keyword"), encoder=KeywordEncoder())
    return {"bm25": BM25Ranker(), "dense:keyword": keyword}
