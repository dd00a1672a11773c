"""Separability: how well a ranker's scores tell relevant items from wrong ones (ROC-AUC).

Two kinds of negatives, each per query (macro mean with a bootstrap CI over queries) and pooled:

* **judged wrong**: the query's grade-0 items, scored over the full corpus (``judged`` holds the
  ranker's scores for every judged item);
* **hard negatives**: the ``hard_negatives`` highest-ranked non-relevant items (judged wrong or
  unjudged) of the ranker's own ranking — what it confuses with the answer.

AUC counts ties as half. The pooled AUC mixes every query's scores on one scale, as one global
threshold would; for rankers whose scale moves from query to query (BM25) read the per-query mean.
Histograms share bin edges across the three score groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aptrank.diagnose.stats import Interval, auc, bootstrap_mean, merged_order, nan_to_none
from aptrank.types import Qrels, Run

HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class AucFigures:
    """AUC of relevant items against one kind of negatives."""

    n_queries: int
    mean_auc: Interval  #: mean of the per-query AUCs
    pooled_auc: float  #: all queries' positives against all their negatives
    per_query: dict[str, float] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_queries": self.n_queries,
            "mean_auc": self.mean_auc.to_dict(),
            "pooled_auc": nan_to_none(self.pooled_auc),
            "per_query": self.per_query,
        }


@dataclass(frozen=True)
class Separability:
    n_queries: int  #: queries with a relevant item
    hard_negatives: int
    vs_judged_wrong: AucFigures | None
    vs_hard_negatives: AucFigures | None
    histogram: dict[str, list[float]] = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_queries": self.n_queries,
            "hard_negatives": self.hard_negatives,
            "vs_judged_wrong": self.vs_judged_wrong.to_dict() if self.vs_judged_wrong else None,
            "vs_hard_negatives": (
                self.vs_hard_negatives.to_dict() if self.vs_hard_negatives else None
            ),
            "histogram": self.histogram,
            "skipped": self.skipped,
        }


def score_groups(
    grades: Mapping[str, int],
    run: Mapping[str, float],
    judged: Mapping[str, float],
    hard_negatives: int,
) -> tuple[list[float], list[float], list[float]]:
    """Scores of one query's relevant items, judged-wrong items and top non-relevant items."""
    relevant = [s for d, s in judged.items() if grades.get(d, 0) > 0]
    wrong = [s for d, s in judged.items() if d in grades and grades[d] <= 0]
    order, _ = merged_order(run, judged)
    hard = [s for d, s in order if grades.get(d, 0) <= 0][:hard_negatives]
    return relevant, wrong, hard


def separability(
    qrels: Qrels,
    run: Run,
    judged: Run,
    hard_negatives: int = 10,
    resamples: int = 1000,
    seed: int = 0,
) -> Separability:
    """Per-query and pooled ROC-AUC, relevant vs judged wrong and vs hard negatives."""
    groups: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for qid in sorted(qrels):
        rel, wrong, hard = score_groups(
            qrels[qid], run.get(qid, {}), judged.get(qid, {}), hard_negatives
        )
        if rel:
            groups[qid] = (rel, wrong, hard)
    skipped: dict[str, str] = {}
    parts = []
    for i, name, why in (
        (1, "vs_judged_wrong", "no query has both a relevant and a judged-wrong (grade 0) item"),
        (2, "vs_hard_negatives", "no query has a non-relevant item in the ranking"),
    ):
        part = _auc_figures({q: (g[0], g[i]) for q, g in groups.items()}, resamples, seed)
        if part is None:
            skipped[name] = why
        parts.append(part)
    return Separability(
        n_queries=len(groups),
        hard_negatives=hard_negatives,
        vs_judged_wrong=parts[0],
        vs_hard_negatives=parts[1],
        histogram=_histogram(groups),
        skipped=skipped,
    )


def _auc_figures(
    pairs: Mapping[str, tuple[list[float], list[float]]], resamples: int, seed: int
) -> AucFigures | None:
    per_query = {q: auc(pos, neg) for q, (pos, neg) in pairs.items() if pos and neg}
    if not per_query:
        return None
    pos = [s for q in per_query for s in pairs[q][0]]
    neg = [s for q in per_query for s in pairs[q][1]]
    return AucFigures(
        n_queries=len(per_query),
        mean_auc=bootstrap_mean(list(per_query.values()), resamples, seed),
        pooled_auc=auc(pos, neg),
        per_query=per_query,
    )


def _histogram(groups: Mapping[str, tuple[list[float], ...]]) -> dict[str, list[float]]:
    """Counts of the three score groups over shared bin edges (``edges`` has one more entry)."""
    names = ("relevant", "judged_wrong", "hard_negatives")
    pooled = [np.asarray([s for g in groups.values() for s in g[i]]) for i in range(3)]
    everything = np.concatenate(pooled) if groups else np.zeros(0)
    if everything.size == 0:
        return {"edges": [], **{n: [] for n in names}}
    edges = np.histogram_bin_edges(everything, bins=HISTOGRAM_BINS)
    out: dict[str, list[float]] = {"edges": [float(e) for e in edges]}
    for name, values in zip(names, pooled):
        out[name] = [float(c) for c in np.histogram(values, bins=edges)[0]]
    return out
