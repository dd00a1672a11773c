"""``A>>B@k``: B reranks the top ``k`` of A."""

from __future__ import annotations

from collections.abc import Mapping

from aptrank.data.runs import cut
from aptrank.rankers.base import Ranker
from aptrank.types import Corpus, Run


class RerankPipeline(Ranker):
    """A first stage retrieves ``depth`` candidates per query; a second stage rescores them."""

    def __init__(self, first: Ranker, second: Ranker, depth: int = 100) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"rerank depth must be >= 1, got {depth}")
        self.first, self.second, self.depth = first, second, depth
        self.name = f"{first.name}>>{second.name}@{depth}"

    def config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "first": self.first.config(),
            "second": self.second.config(),
            "depth": self.depth,
        }

    @property
    def retrieves(self) -> bool:
        return self.first.retrieves

    def index(self, corpus: Corpus) -> RerankPipeline:
        super().index(corpus)
        self.first.index(corpus)
        self.second.index(corpus)
        return self

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        candidates = self.first.rank(queries, self.depth)
        return cut(self.second.rerank(queries, candidates), k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        first = cut(self.first.rerank(queries, candidates), self.depth)
        return self.second.rerank(queries, first)
