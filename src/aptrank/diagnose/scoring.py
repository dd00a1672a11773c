"""Asking a ranker for a top-k and for the scores of given documents, in as few calls as possible.

Every ``rank`` or ``rerank`` call encodes its queries again (a dense ranker's main cost once the
corpus is cached), so :func:`rank_and_score` ranks once and reranks only the queries whose wanted
documents the top-k missed, and only those documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aptrank.data.runs import cut
from aptrank.rankers.base import Ranker
from aptrank.types import Run


def rank_and_score(
    ranker: Ranker, queries: Mapping[str, str], wanted: Mapping[str, Iterable[str]], k: int
) -> tuple[Run, Run]:
    """``(top, scores)``: each query's top ``k`` documents, and its score of every document in
    ``wanted[query]`` (from the top-k where it is there, else from ``rerank``). Documents the
    ranker cannot score (not in its corpus) are left out of ``scores``."""
    top = cut(ranker.rank(queries, k), k) if queries else {}
    scores: Run = {}
    missing: dict[str, dict[str, float]] = {}
    for qid in queries:
        have = top.get(qid, {})
        docs = list(dict.fromkeys(wanted.get(qid, ())))
        scores[qid] = {d: have[d] for d in docs if d in have}
        rest = [d for d in docs if d not in have]
        if rest:
            missing[qid] = dict.fromkeys(rest, 0.0)
    if missing:
        extra = ranker.rerank({q: queries[q] for q in missing}, missing)
        for qid, got in extra.items():
            scores[qid].update(got)
    return top, scores
