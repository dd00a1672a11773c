"""Compositions: ``A>>B@k`` (B reranks the top ``k`` of A) and ``R>>B`` (query rewriter R
rewrites the queries B ranks with)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

from aptrank.data.runs import cut
from aptrank.errors import AptrankError
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


class QueryRewriter(Ranker):
    """A stage that rewrites queries for the ranker after it (``rewrite>>bm25``) instead of
    ranking documents itself. Subclasses implement :meth:`rewrite`."""

    @property
    def retrieves(self) -> bool:
        return False

    @abstractmethod
    def rewrite(self, queries: Mapping[str, str]) -> dict[str, str]:
        """The text to search with for every query (same ids)."""

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        raise AptrankError(
            f"{self.name} rewrites queries and ranks nothing: put a ranker after it, "
            f"e.g. '{self.name}>>bm25'"
        )

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        return self.rank(queries)


class RewritePipeline(Ranker):
    """``R>>B``: B ranks (or reranks) with the queries rewritten by R. Only B sees the rewrites;
    stages after it (``R>>B>>C@k``) get the original queries, as a user's query would reach
    them."""

    def __init__(self, first: QueryRewriter, second: Ranker) -> None:
        super().__init__()
        if isinstance(second, QueryRewriter):
            raise ValueError("a query rewriter must be followed by a ranker, not another rewriter")
        self.first, self.second = first, second
        self.name = f"{first.name}>>{second.name}"

    def config(self) -> dict[str, object]:
        return {"name": self.name, "first": self.first.config(), "second": self.second.config()}

    @property
    def retrieves(self) -> bool:
        return self.second.retrieves

    def index(self, corpus: Corpus) -> RewritePipeline:
        super().index(corpus)
        self.first.index(corpus)
        self.second.index(corpus)
        return self

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        return self.second.rank(self.first.rewrite(queries), k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        rewritten = self.first.rewrite({q: queries[q] for q in candidates})
        return self.second.rerank(rewritten, candidates)
