"""Scoring raw texts through a ranker tree, with no corpus: what ``/v1/rerank`` and
``/v1/embeddings`` need.

The ranker protocol scores documents *of a corpus* (by id). A served rerank request brings its
own document texts, so the stages that can score a text by itself are walked here: a
cross-encoder scores (query, document) pairs; a bi-encoder embeds both sides (the query with its
prefix and adapter) and takes the cosine; ``fuse``, ``rrf``, ``A>>B@k``, a query rewriter and a
trained ranker's folder combine their members' scores exactly as their ``rerank`` does (the same
:func:`~aptrank.rankers.fuse.fuse_runs`, :func:`~aptrank.rankers.fusion.rrf` and
:func:`~aptrank.rankers.pipeline.append_tail`). A stage that needs corpus statistics (BM25) cannot
score a text alone: such a pipeline is served through ``/v1/search`` only.

Any other stage can join by defining ``score_texts(queries, documents) -> Run`` (queries
``{qid: text}``, documents ``{qid: {doc_id: text}}``), as :class:`~aptrank.rankers.remote
.RemoteRanker` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from aptrank.data.runs import cut
from aptrank.errors import AptrankError
from aptrank.rankers.artifact import ArtifactRanker
from aptrank.rankers.base import Ranker
from aptrank.rankers.cross_encoder import CrossEncoderRanker
from aptrank.rankers.dense import DenseRanker
from aptrank.rankers.fuse import FuseRanker, fuse_runs
from aptrank.rankers.fusion import FusionRanker, rrf
from aptrank.rankers.pipeline import RerankPipeline, RewritePipeline, append_tail
from aptrank.types import Run

Texts = Mapping[str, Mapping[str, str]]


class NotTextScorable(AptrankError):
    """A pipeline with a stage that needs the corpus to score a document (BM25)."""


def text_scoring_problem(ranker: Ranker) -> str | None:
    """Why ``ranker`` cannot score raw texts (None when it can).

    >>> from aptrank.rankers import build_ranker
    >>> text_scoring_problem(build_ranker("bm25>>ce:m@30"))
    'bm25 needs the corpus to score a document'
    >>> text_scoring_problem(build_ranker("fuse(ce:a,ce:b)")) is None
    True
    """
    for child in _children(ranker):
        problem = text_scoring_problem(child)
        if problem:
            return problem
    if _children(ranker) or isinstance(ranker, (CrossEncoderRanker, DenseRanker)):
        return None
    if callable(getattr(ranker, "score_texts", None)):
        return None
    return f"{ranker.name} needs the corpus to score a document"


def _children(ranker: Ranker) -> list[Ranker]:
    if isinstance(ranker, ArtifactRanker):
        return [ranker.inner]
    if isinstance(ranker, FuseRanker):
        return list(ranker.members)
    if isinstance(ranker, FusionRanker):
        return list(ranker.rankers)
    if isinstance(ranker, RerankPipeline):
        return [ranker.first, ranker.second]
    if isinstance(ranker, RewritePipeline):
        return [ranker.second]
    return []


def score_texts(
    ranker: Ranker, queries: Sequence[str], documents: Sequence[Sequence[str]]
) -> list[np.ndarray]:
    """The scores ``ranker`` gives each query's documents (``documents[i]`` belong to
    ``queries[i]``), in the documents' order; all queries go through the model together."""
    if len(queries) != len(documents):
        raise ValueError(f"{len(queries)} queries but {len(documents)} document lists")
    qmap = {str(i): q for i, q in enumerate(queries)}
    dmap = {str(i): {str(j): d for j, d in enumerate(docs)} for i, docs in enumerate(documents)}
    run = _score(ranker, qmap, dmap)
    out = []
    for i, docs in enumerate(documents):
        scores = run.get(str(i), {})
        out.append(np.array([scores.get(str(j), np.nan) for j in range(len(docs))], np.float64))
    return out


def _score(ranker: Ranker, queries: Mapping[str, str], docs: Texts) -> Run:
    if isinstance(ranker, ArtifactRanker):
        return _score(ranker.inner, queries, docs)
    if isinstance(ranker, CrossEncoderRanker):
        return _cross_encoder(ranker, queries, docs)
    if isinstance(ranker, DenseRanker):
        return _bi_encoder(ranker, queries, docs)
    if isinstance(ranker, FuseRanker):
        runs = [_score(m, queries, docs) for m in ranker.members]
        return fuse_runs(runs, ranker.weights, ranker.norm, ranker.scales, candidates=docs)
    if isinstance(ranker, FusionRanker):
        return rrf([_score(r, queries, docs) for r in ranker.rankers], ranker.k)
    if isinstance(ranker, RerankPipeline):
        first = _score(ranker.first, queries, docs)
        top = cut(first, ranker.depth)
        head = _score(ranker.second, queries, {q: {d: docs[q][d] for d in top[q]} for q in top})
        return append_tail(head, first)
    if isinstance(ranker, RewritePipeline):
        return _score(ranker.second, ranker.first.rewrite(queries), docs)
    own = getattr(ranker, "score_texts", None)
    if callable(own):
        return own(queries, docs)
    raise NotTextScorable(f"{ranker.name} needs the corpus to score a document")


def _cross_encoder(ranker: CrossEncoderRanker, queries: Mapping[str, str], docs: Texts) -> Run:
    keys = [(q, d) for q in docs for d in docs[q]]
    pairs = [(queries[q], docs[q][d]) for q, d in keys]
    scores = ranker.scorer.score(pairs, batch_size=ranker.cfg.batch_size) if pairs else ()
    run: Run = {q: {} for q in docs}
    for (q, d), s in zip(keys, scores):
        run[q][d] = float(s)
    return run


def _bi_encoder(ranker: DenseRanker, queries: Mapping[str, str], docs: Texts) -> Run:
    qids = list(docs)
    keys = [(q, d) for q in qids for d in docs[q]]
    run: Run = {q: {} for q in qids}
    if not keys:
        return run
    qvec = ranker.embed_texts([queries[q] for q in qids], query=True)
    dvec = ranker.embed_texts([docs[q][d] for q, d in keys])
    row = {q: i for i, q in enumerate(qids)}
    sims = np.einsum("ij,ij->i", dvec, qvec[[row[q] for q, _ in keys]])
    for (q, d), s in zip(keys, sims):
        run[q][d] = float(s)
    return run


def bi_encoder(ranker: Ranker) -> DenseRanker | None:
    """The bi-encoder behind ``ranker`` (through trained-ranker folders), or None: what
    ``/v1/embeddings`` serves."""
    while isinstance(ranker, ArtifactRanker):
        ranker = ranker.inner
    return ranker if isinstance(ranker, DenseRanker) else None


def score_meaning(ranker: Ranker) -> str:
    """What a served score is, for ``/v1/models`` (higher is better for every ranker).

    >>> from aptrank.rankers import build_ranker
    >>> score_meaning(build_ranker("bm25>>dense@30"))
    'cosine similarity of the normalised embeddings (top 30 of bm25); the rest below them'
    """
    while isinstance(ranker, ArtifactRanker):
        ranker = ranker.inner
    if isinstance(ranker, RerankPipeline):
        head = score_meaning(ranker.second)
        return f"{head} (top {ranker.depth} of {ranker.first.name}); the rest below them"
    if isinstance(ranker, RewritePipeline):
        return f"{score_meaning(ranker.second)}, for the rewritten query"
    if isinstance(ranker, CrossEncoderRanker):
        return "the cross-encoder's output for the (query, document) pair"
    if isinstance(ranker, DenseRanker):
        return "cosine similarity of the normalised embeddings"
    if isinstance(ranker, FuseRanker):
        how = "z-scored over the request's documents" if ranker.norm == "zscore" else "scaled"
        return f"weighted sum of the members' scores, each {how}"
    if isinstance(ranker, FusionRanker):
        return f"reciprocal-rank fusion, sum of 1/({ranker.k} + rank)"
    return f"the score of {ranker.name}"
