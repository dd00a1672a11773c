"""Hard negatives and training examples for fine-tuning a bi-encoder (``aptrank finetune``).

Negatives come from BM25's and the pretrained model's top ``mine_k`` (interleaved by rank), never
a document the query judges relevant, and never one the pretrained model scores nearly as high as
the positive (cosine >= ``margin`` x the positive's cosine): positive-aware mining (NV-Retriever,
Moreira et al. 2024, "TopK-PercPos").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aptrank.errors import AptrankError
from aptrank.types import Dataset, Qrels, Run

if TYPE_CHECKING:
    from aptrank.train.finetune import FinetuneConfig

ProgressFactory = Callable[[str], Callable[[int, int], None]]
#: a teacher's scores ``{query id: {doc id: score}}`` (Margin-MSE)
TeacherLabels = Mapping[str, Mapping[str, float]]


def _kept(
    candidates: Sequence[str],
    judged: Mapping[str, int],
    positive: str,
    scores: Mapping[str, float] | None,
    margin: float | None,
    absolute: bool = False,
) -> tuple[list[str], int]:
    """The candidates that may serve as negatives, in order, and how many the margin dropped:
    those scored >= ``margin`` x the positive's score (a cosine), or with ``absolute`` (a
    teacher's score, on any scale) >= the positive's score - ``margin``."""
    relevant = {d for d, grade in judged.items() if grade > 0}
    eligible = [d for d in dict.fromkeys(candidates) if d not in relevant]
    if margin is None or scores is None:
        return eligible, 0
    missing = [d for d in (positive, *eligible) if d not in scores]
    if missing:
        raise AptrankError(f"no pretrained score for {missing[0]!r}: cannot apply the margin")
    limit = scores[positive] - margin if absolute else margin * scores[positive]
    kept = [d for d in eligible if scores[d] < limit]
    return kept, len(eligible) - len(kept)


def mine_negatives(
    candidates: Sequence[str],
    judged: Mapping[str, int],
    positive: str,
    n: int,
    scores: Mapping[str, float] | None = None,
    margin: float | None = 0.95,
    rng: random.Random | None = None,
) -> list[str]:
    """Up to ``n`` hard negatives for ``(query, positive)`` from the query's mined ``candidates``.

    A negative is a candidate the query does not judge relevant (grade <= 0 or unjudged) whose
    pretrained score is below ``margin`` x the positive's (when ``scores`` and ``margin`` are
    given). Without ``rng`` the first ``n`` kept in candidate order (the hardest); with it, a
    random ``n`` of them. Inputs are not modified.

    >>> scores = {"p": 0.8, "a": 0.9, "b": 0.5, "c": 0.79, "d": 0.3}
    >>> mine_negatives(["a", "p", "b", "c", "d"], {"a": 1, "p": 1, "b": 0}, "p", 2, scores)
    ['b', 'd']
    >>> mine_negatives(["a", "p", "b", "c", "d"], {"a": 1, "p": 1}, "p", 2, scores, margin=None)
    ['b', 'c']
    """
    return _pick(_kept(candidates, judged, positive, scores, margin)[0], n, rng)


def _pick(kept: list[str], n: int, rng: random.Random | None) -> list[str]:
    return rng.sample(kept, min(n, len(kept))) if rng is not None else kept[:n]


@dataclass(frozen=True)
class Mined:
    """What mining found for the training queries: candidates (best first) and base scores."""

    candidates: dict[str, list[str]]
    scores: Run  #: pretrained cosine of each query to its positives and candidates ({} : none)


def build_examples(
    queries: Mapping[str, str],
    corpus: Mapping[str, Any],
    qrels: Qrels,
    mined: Mined,
    config: FinetuneConfig,
    teacher_labels: TeacherLabels | None = None,
) -> tuple[list[tuple[Any, ...]], dict[str, int]]:
    """Rows ``(query, positive, negative...)`` (plus the teacher margins with margin-mse) for the
    ``queries``, in a fixed order (query id, positive id), and counts: (query, relevant document)
    ``pairs``, pairs left out for want of negatives or of a teacher label, and candidates the
    margin dropped (summed over pairs)."""
    rng = random.Random(config.seed) if config.negative_sampling == "random" else None
    rows: list[tuple[Any, ...]] = []
    counts = {"pairs": 0, "short_of_negatives": 0, "dropped_by_margin": 0, "no_teacher_label": 0}
    for qid in sorted(queries):
        judged = qrels.get(qid, {})
        teacher = teacher_labels.get(qid, {}) if teacher_labels is not None else None
        cands = mined.candidates.get(qid, [])
        if teacher is not None:
            cands = [d for d in cands if d in teacher]
        for pos in sorted(d for d, g in judged.items() if g > 0 and d in corpus):
            counts["pairs"] += 1
            if teacher is not None and pos not in teacher:
                counts["no_teacher_label"] += 1
                continue
            if teacher is not None:  # the teacher's judgment replaces the pretrained cosine
                kept, dropped = _kept(cands, judged, pos, teacher, config.teacher_margin, True)
            else:
                scores = mined.scores.get(qid, {}) if config.margin is not None else None
                kept, dropped = _kept(cands, judged, pos, scores, config.margin)
            counts["dropped_by_margin"] += dropped
            negs = _pick(kept, config.negatives, rng)
            if len(negs) < config.negatives:
                counts["short_of_negatives"] += 1
                continue
            row: tuple[Any, ...] = (
                queries[qid],
                corpus[pos].full_text,
                *(corpus[d].full_text for d in negs),
            )
            if teacher is not None and config.loss == "margin-mse":
                margins = [float(teacher[pos]) - float(teacher[d]) for d in negs]
                row = (*row, margins[0] if len(margins) == 1 else margins)
            rows.append(row)
    return rows, counts


def mine(
    dataset: Dataset,
    queries: Mapping[str, str],
    config: FinetuneConfig,
    progress: ProgressFactory | None = None,
    qrels: Qrels | None = None,
) -> Mined:
    """Top-``mine_k`` candidates of the miners, interleaved by rank, and (for the margin, unless
    a teacher's scores replace it) the base model's cosine of each query to its positives
    (in ``qrels``, by default the dataset's) and candidates."""
    from aptrank.rankers import build_ranker
    from aptrank.rankers.dense import DenseConfig, DenseRanker
    from aptrank.teach.mining import interleave, mine_runs

    dense = DenseRanker(DenseConfig(model=config.base))
    rankers = [dense if m == "dense" else build_ranker("bm25") for m in config.miners]
    runs = mine_runs(dataset.corpus, queries, rankers, config.mine_k, progress)
    candidates = interleave(list(runs.values()), config.mine_k)
    scores: Run = {}
    qrels = dataset.qrels if qrels is None else qrels
    if config.margin is not None and config.teacher is None:
        if "dense" not in config.miners:
            if progress is not None:
                dense.progress = progress(f"{dense.name}: encoding corpus")
            dense.index(dataset.corpus)
        pool = {
            q: dict.fromkeys(
                [
                    *(d for d, g in qrels.get(q, {}).items() if g > 0),
                    *candidates.get(q, []),
                ],
                0.0,
            )
            for q in queries
        }
        scores = dense.rerank(queries, pool)
    return Mined({q: candidates.get(q, []) for q in queries}, scores)
