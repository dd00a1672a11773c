"""Constraint pairs: does the ranker put the item that fits the task above the on-topic wrong one?

A general rule on graded judgments, never a dataset name: for every query that has both a
top-grade item (its highest grade, which must be > 0) and a judged-wrong item (grade 0), pair
each top-grade item with each grade-0 item. In NegConstraint that is the document satisfying the
query's negative constraint (grade 2) against the on-topic document violating it (grade 0).

* **accuracy**: the share of pairs in which the top-grade item scores higher, scored over the full
  corpus (the ranker's ``rerank`` scores of the judged items, whether or not its top-k holds
  them), ties counted as half; a bootstrap CI resamples queries (with all their pairs);
* ``strict_accuracy`` counts ties as losses and ``ties`` says how many pairs tied, so a figure
  computed with another tie rule can be compared;
* **violators in the top-k** (CoDeR's measures): ``v@k`` for k in :data:`V_AT` is the share of
  queries with at least one judged violator (grade 0) in the top k; ``fvr_mean`` and
  ``fvr_median`` are the rank of the first judged violator, a query with none in the run counted
  at ``depth + 1``; also how many violators the top-k holds and the share of queries where the
  first violator is ranked above the first top-grade item.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aptrank.data.runs import ranked
from aptrank.diagnose.stats import Interval, bootstrap_ratio, first_rank
from aptrank.types import Qrels, Run

#: the cut-offs of ``v@k``
V_AT = (1, 2, 5, 10)
SKIP_REASON = "no query has both a top-grade (grade > 0) item and a judged-wrong (grade 0) item"


@dataclass(frozen=True)
class QueryPairs:
    pairs: int
    wins: int  #: top-grade item scores strictly higher
    ties: int
    violators_in_topk: int
    first_violator_rank: int | None  #: in the top-k run; None: no violator in the top-k
    first_satisfier_rank: int | None  #: in the top-k run; None: no top-grade item in the top-k

    @property
    def accuracy(self) -> float:
        return (self.wins + 0.5 * self.ties) / self.pairs


@dataclass(frozen=True)
class ConstraintPairs:
    n_queries: int  #: queries with at least one pair
    n_pairs: int
    accuracy: Interval  #: pairs won, ties as half, CI over queries
    strict_accuracy: float  #: ties as losses
    ties: int
    query_accuracy: float  #: mean over queries of each query's pair accuracy
    queries_all_won: float  #: share of queries in which every pair is won (ties as losses)
    mean_violators_in_topk: float
    v_at: dict[int, float]  #: ``{k: share of queries with a judged violator in the top k}``
    fvr_mean: float  #: rank of the first judged violator, none in the run = depth + 1
    fvr_median: float
    share_violator_first: float  #: the first violator is ranked above every top-grade item
    depth: int
    per_query: dict[str, QueryPairs] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain figures; ``v_at`` becomes the keys ``v@1``, ``v@2``, ..."""
        skip = ("per_query", "v_at")
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k not in skip}
        out.update({f"v@{k}": v for k, v in self.v_at.items()})
        out["accuracy_ci"] = self.accuracy.to_dict()
        out["accuracy"] = self.accuracy.value
        out["per_query"] = {
            q: {**p.__dict__, "accuracy": p.accuracy} for q, p in self.per_query.items()
        }
        return out


def query_pairs(
    grades: Mapping[str, int], run: Mapping[str, float], judged: Mapping[str, float]
) -> QueryPairs | None:
    """The pairs of one query, or None when it has no (top-grade, grade-0) pair."""
    scored = {d: g for d, g in grades.items() if d in judged}
    top = max(scored.values(), default=0)
    if top <= 0:
        return None
    best = np.array([judged[d] for d, g in scored.items() if g == top], dtype=np.float64)
    zero = np.array([judged[d] for d, g in scored.items() if g <= 0], dtype=np.float64)
    if zero.size == 0:
        return None
    diff = best[:, None] - zero[None, :]
    violators = {d for d, g in grades.items() if g <= 0}
    satisfiers = {d for d, g in grades.items() if g == top}
    order = ranked(run)
    return QueryPairs(
        pairs=int(diff.size),
        wins=int((diff > 0).sum()),
        ties=int((diff == 0).sum()),
        violators_in_topk=sum(1 for d in run if d in violators),
        first_violator_rank=first_rank(order, violators),
        first_satisfier_rank=first_rank(order, satisfiers),
    )


def constraint_pairs(
    qrels: Qrels, run: Run, judged: Run, depth: int, resamples: int = 1000, seed: int = 0
) -> ConstraintPairs | None:
    """Constraint-pair figures (see the module docstring); None when no query has a pair."""
    per_query: dict[str, QueryPairs] = {}
    for qid in sorted(qrels):
        qp = query_pairs(qrels[qid], run.get(qid, {}), judged.get(qid, {}))
        if qp is not None:
            per_query[qid] = qp
    if not per_query:
        return None
    qs = list(per_query.values())
    won = np.array([p.wins + 0.5 * p.ties for p in qs])
    pairs = np.array([p.pairs for p in qs], dtype=np.float64)
    fvr = first_violator_ranks(per_query, depth)
    return ConstraintPairs(
        n_queries=len(qs),
        n_pairs=int(pairs.sum()),
        accuracy=bootstrap_ratio(won, pairs, resamples, seed),
        strict_accuracy=float(sum(p.wins for p in qs) / pairs.sum()),
        ties=sum(p.ties for p in qs),
        query_accuracy=float(statistics.fmean(p.accuracy for p in qs)),
        queries_all_won=float(statistics.fmean(p.wins == p.pairs for p in qs)),
        mean_violators_in_topk=float(statistics.fmean(p.violators_in_topk for p in qs)),
        v_at=violators_at(fvr.values(), V_AT),
        fvr_mean=float(statistics.fmean(fvr.values())),
        fvr_median=float(statistics.median(fvr.values())),
        share_violator_first=float(statistics.fmean(_violator_first(p) for p in qs)),
        depth=depth,
        per_query=per_query,
    )


def first_violator_ranks(per_query: Mapping[str, QueryPairs], depth: int) -> dict[str, int]:
    """Each query's rank of its first judged violator; ``depth + 1`` when the run holds none."""
    return {
        q: p.first_violator_rank if p.first_violator_rank is not None else depth + 1
        for q, p in per_query.items()
    }


def violators_at(first_ranks: Iterable[int], cutoffs: Iterable[int]) -> dict[int, float]:
    """``{k: share of queries whose first violator is at rank <= k}`` (``v@k``).

    >>> violators_at([1, 3, 11, 2], (1, 2, 5, 10))
    {1: 0.25, 2: 0.5, 5: 0.75, 10: 0.75}
    """
    ranks = list(first_ranks)
    return {k: sum(r <= k for r in ranks) / len(ranks) for k in cutoffs}


def _violator_first(p: QueryPairs) -> bool:
    if p.first_violator_rank is None:
        return False
    return p.first_satisfier_rank is None or p.first_violator_rank < p.first_satisfier_rank
