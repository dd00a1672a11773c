"""One ranking, and a rerank only for the documents it missed."""

from __future__ import annotations

from collections.abc import Mapping

from aptrank.diagnose.scoring import rank_and_score
from aptrank.rankers.base import Ranker
from aptrank.types import Run


class SpyRanker(Ranker):
    """Fixed scores per query; records every call."""

    name = "spy"
    SCORES = {"a": {"d1": 3.0, "d2": 2.0, "d3": 1.0}, "b": {"d1": 1.0, "d2": 5.0, "d3": 4.0}}

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict]] = []  # type: ignore[type-arg]

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        self.calls.append(("rank", dict(queries)))
        return {
            q: dict(sorted(self.SCORES[t].items(), key=lambda x: -x[1])[:k])
            for q, t in queries.items()
        }

    def rerank(self, queries, candidates) -> Run:  # type: ignore[no-untyped-def]
        self.calls.append(("rerank", {q: sorted(c) for q, c in candidates.items()}))
        return {q: {d: self.SCORES[queries[q]][d] for d in c} for q, c in candidates.items()}


def test_rerank_only_what_the_top_k_missed():
    spy = SpyRanker()
    top, scores = rank_and_score(
        spy, {"q1": "a", "q2": "b"}, {"q1": ["d1", "d3"], "q2": ["d2"]}, k=2
    )
    assert top == {"q1": {"d1": 3.0, "d2": 2.0}, "q2": {"d2": 5.0, "d3": 4.0}}
    assert scores == {"q1": {"d1": 3.0, "d3": 1.0}, "q2": {"d2": 5.0}}
    assert spy.calls[1] == ("rerank", {"q1": ["d3"]})  # only q1's d3 was outside the top 2
    assert len(spy.calls) == 2


def test_no_rerank_when_the_top_k_has_everything():
    spy = SpyRanker()
    _, scores = rank_and_score(spy, {"q": "a"}, {"q": ["d2", "d2"]}, k=3)
    assert scores == {"q": {"d2": 2.0}} and [c[0] for c in spy.calls] == ["rank"]
