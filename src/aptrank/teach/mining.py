"""Candidate mining: the documents a teacher should label for each query.

A teacher is slow, so it labels only a short list per query: the union of what a lexical and a
dense retriever rank highest. The lists interleave the rankers by rank (first of BM25, first of
dense, second of BM25, ...), so cutting a list shorter still keeps both sources' best.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from aptrank.data.runs import ranked
from aptrank.experiment import ProgressFactory, walk
from aptrank.rankers import Ranker, build_ranker
from aptrank.types import Corpus, Qrels, Query, Run

logger = logging.getLogger(__name__)


def _text(query: Query | str) -> str:
    return query if isinstance(query, str) else query.text


def mine_runs(
    corpus: Corpus,
    queries: Mapping[str, Query | str],
    rankers: Sequence[str | Ranker] = ("bm25", "dense"),
    k: int = 30,
    progress: ProgressFactory | None = None,
) -> dict[str, Run]:
    """The top-``k`` run of every ranker (a pipeline string or a built ranker), by its name."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    texts = {qid: _text(q) for qid, q in queries.items()}
    runs: dict[str, Run] = {}
    for spec in rankers:
        ranker = build_ranker(spec) if isinstance(spec, str) else spec
        name = spec if isinstance(spec, str) else ranker.name
        if progress is not None:
            for stage in walk(ranker):
                if hasattr(stage, "progress"):
                    stage.progress = progress(f"mining {stage.name}: encoding corpus")
        ranker.index(corpus)
        runs[name] = ranker.rank(texts, k)
    return runs


def interleave(
    runs: Sequence[Run], k: int | None = None, exclude: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Per query, each run's top ``k`` (without ``exclude[qid]``), round-robin by rank, each once.

    >>> interleave([{"q": {"a": 3.0, "b": 2.0}}, {"q": {"b": 0.9, "c": 0.8}}])
    {'q': ['a', 'b', 'c']}
    """
    exclude = exclude or {}
    out: dict[str, list[str]] = {}
    for qid in dict.fromkeys(q for run in runs for q in run):
        drop = exclude.get(qid)
        lists = [[d for d, _ in ranked(run.get(qid, {})) if d != drop][:k] for run in runs]
        depth = max(map(len, lists), default=0)
        merged = [lst[rank] for rank in range(depth) for lst in lists if rank < len(lst)]
        out[qid] = list(dict.fromkeys(merged))
    return out


def mine_candidates(
    corpus: Corpus,
    queries: Mapping[str, Query | str],
    rankers: Sequence[str | Ranker] = ("bm25", "dense"),
    k: int = 30,
    exclude_source: bool = False,
    progress: ProgressFactory | None = None,
) -> dict[str, list[str]]:
    """The interleaved union of each ranker's top ``k`` for every query (see the module doc).

    With ``exclude_source``, a query's ``meta["source_doc"]`` (the document a synthetic query was
    written from) is left out, so the lists hold only other documents; each ranker still
    contributes ``k``. Every query of ``queries`` gets a list, in the order of ``queries``.
    """
    depth = k + 1 if exclude_source else k
    runs = list(mine_runs(corpus, queries, rankers, depth, progress).values())
    sources = {
        qid: str(q.meta["source_doc"])
        for qid, q in queries.items()
        if exclude_source and not isinstance(q, str) and "source_doc" in q.meta
    }
    merged = interleave(runs, k, sources)
    return {qid: merged.get(qid, []) for qid in queries}


def hard_negatives(
    run: Mapping[str, Mapping[str, float]], qrels: Qrels, n: int
) -> dict[str, list[str]]:
    """The ``n`` highest-ranked documents not judged relevant (grade > 0), for judged queries.

    Judged-wrong (grade 0) and unjudged documents both count as negatives.

    >>> hard_negatives({"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, {"q": {"a": 1, "b": 0}}, 2)
    {'q': ['b', 'c']}
    """
    out: dict[str, list[str]] = {}
    for qid, scores in run.items():
        if qid not in qrels:
            continue
        relevant = {d for d, grade in qrels[qid].items() if grade > 0}
        out[qid] = [d for d, _ in ranked(scores) if d not in relevant][:n]
    return out
