"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

Written here rather than taken from ranx: the formula is one line, and ranx's fusion pulls in
numba, whose first-call compilation costs more than the fusion itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aptrank.data.runs import cut, ranked
from aptrank.rankers.base import Ranker
from aptrank.types import Corpus, Run


def rrf(runs: Sequence[Mapping[str, Mapping[str, float]]], k: int = 60) -> Run:
    """Fuse runs by ``sum(1 / (k + rank))``, ranks taken in trec_eval order (1-based).

    >>> rrf([{"q": {"a": 2.0, "b": 1.0}}, {"q": {"b": 5.0}}], k=1)  # b: 1/(1+2) + 1/(1+1)
    {'q': {'a': 0.5, 'b': 0.8333333333333333}}
    """
    fused: Run = {}
    for run in runs:
        for qid, scores in run.items():
            out = fused.setdefault(qid, {})
            for rank, (doc, _) in enumerate(ranked(scores), start=1):
                out[doc] = out.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


class FusionRanker(Ranker):
    """``rrf(A, B, ...)``: each ranker retrieves ``depth`` documents, the lists are fused."""

    def __init__(self, rankers: Sequence[Ranker], k: int = 60, depth: int = 1000) -> None:
        super().__init__()
        self.rankers = list(rankers)
        self.k = k
        self.depth = depth
        self.name = f"rrf({','.join(r.name for r in self.rankers)})"

    def config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "k": self.k,
            "depth": self.depth,
            "rankers": [r.config() for r in self.rankers],
        }

    @property
    def retrieves(self) -> bool:
        return all(r.retrieves for r in self.rankers)

    @property
    def kind(self) -> str:
        return "rrf"

    def index(self, corpus: Corpus) -> FusionRanker:
        super().index(corpus)
        for r in self.rankers:
            r.index(corpus)
        return self

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        return cut(rrf([r.rank(queries, max(k, self.depth)) for r in self.rankers], self.k), k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        return rrf([r.rerank(queries, candidates) for r in self.rankers], self.k)
