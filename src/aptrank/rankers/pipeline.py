"""Compositions: ``A>>B@k`` (B reranks the top ``k`` of A, A's run continues below) and ``R>>B``
(query rewriter R rewrites the queries B ranks with)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

from aptrank.data.runs import cut, ranked
from aptrank.errors import AptrankError
from aptrank.rankers.base import Ranker
from aptrank.types import Corpus, Run


def append_tail(head: Mapping[str, Mapping[str, float]], first: Run) -> Run:
    """``head`` (a second stage's scores for the top of ``first``) followed by the rest of
    ``first`` in its own order, its scores shifted to lie strictly below the head's lowest.

    A first-stage document the second stage gave no score joins the tail. The shift is one
    constant per query, so the tail keeps the first stage's order (ties included) and the run
    keeps the first stage's depth: recall@100 and MAP of ``A>>B@30`` see A's whole list.

    >>> append_tail({"q": {"b": 0.5, "a": 0.25}}, {"q": {"a": 5.0, "b": 4.0, "c": 3.0, "d": 1.0}})
    {'q': {'b': 0.5, 'a': 0.25, 'c': -0.75, 'd': -2.75}}
    """
    out: Run = {}
    for qid, scores in first.items():
        top = dict(head.get(qid, {}))
        rest = [(d, s) for d, s in ranked(scores) if d not in top]
        if top and rest:
            shift = min(top.values()) - rest[0][1] - 1.0
            top.update((d, s + shift) for d, s in rest)
        elif rest:
            top.update(rest)
        out[qid] = top
    for qid, head_scores in head.items():  # queries only the second stage answered
        out.setdefault(qid, dict(head_scores))
    return out


class RerankPipeline(Ranker):
    """A first stage ranks the queries; a second stage rescores its top ``depth``, and the first
    stage's remaining documents follow in their own order (:func:`append_tail`)."""

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

    @property
    def kind(self) -> str:
        return f"{self.first.kind}>>{self.second.kind}"

    def index(self, corpus: Corpus) -> RerankPipeline:
        super().index(corpus)
        self.first.index(corpus)
        self.second.index(corpus)
        return self

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        first = self.first.rank(queries, max(k, self.depth))
        return cut(self._rescore(queries, first), k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        return self._rescore(queries, self.first.rerank(queries, candidates))

    def _rescore(self, queries: Mapping[str, str], first: Run) -> Run:
        head = self.second.rerank(queries, cut(first, self.depth))
        return append_tail(head, first)


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

    @property
    def kind(self) -> str:
        return f"{self.first.kind}>>{self.second.kind}"

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
