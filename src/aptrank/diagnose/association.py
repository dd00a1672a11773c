"""Wrong but associated: what a ranker puts above the first relevant item, and by how much.

Inputs are plain data: the judgments, the ranker's top-k ``run`` and ``judged`` — the ranker's
scores for every judged document of each query (from ``rerank``, so documents the top-k missed are
scored too). The two are merged into one ranking per query in trec_eval's order. A relevant item
outside the top-k gets a position that is a lower bound (``exact: false``): everything in the
top-k above it is counted, the rest of the corpus is not.

* **items above**: judged-wrong (grade 0) plus unjudged items ranked above the first relevant one;
* **margin**: best judged-wrong score minus best relevant score (> 0: the wrong item wins);
  ``margin_nonrelevant`` does the same with any non-relevant item (judged wrong or unjudged top-k).
  Margins are in the ranker's own score units: compare signs across rankers, not sizes;
* **wrong outranks all**: a judged-wrong item is ranked above every relevant item.

Queries without a relevant item are counted and left out.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aptrank.diagnose.stats import Interval, bootstrap_mean, first_rank, merged_order, nan_to_none
from aptrank.types import Qrels, Run


@dataclass(frozen=True)
class QueryAssociation:
    first_relevant_rank: int
    exact: bool  #: False when the first relevant item is outside the top-k (rank is a lower bound)
    wrong_above: int
    unjudged_above: int
    margin: float | None  #: best judged-wrong minus best relevant score; None without grade 0
    margin_nonrelevant: float | None
    wrong_outranks_all: bool | None
    best_wrong: str | None
    best_nonrelevant: str | None

    @property
    def items_above(self) -> int:
        return self.wrong_above + self.unjudged_above


@dataclass(frozen=True)
class Association:
    n_queries: int  #: queries with a relevant item (the ones described)
    n_without_relevant: int  #: judged queries left out: no item with grade > 0
    n_with_wrong: int  #: described queries that also have a judged-wrong (grade 0) item
    mean_items_above: float | None
    median_items_above: float | None
    mean_wrong_above: float | None
    mean_unjudged_above: float | None
    share_first_relevant_top1: float | None
    share_relevant_beyond_topk: float | None
    wrong_outranks_all: Interval | None  #: share of queries with grade 0 where it wins
    mean_margin: float | None
    median_margin: float | None
    median_margin_nonrelevant: float | None
    worst: list[dict[str, Any]]
    per_query: dict[str, QueryAssociation] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in _SCALARS}
        out["wrong_outranks_all"] = (
            self.wrong_outranks_all.to_dict() if self.wrong_outranks_all else None
        )
        out["worst"] = self.worst
        out["per_query"] = {
            q: {**a.__dict__, "items_above": a.items_above} for q, a in self.per_query.items()
        }
        return out


_SCALARS = (
    "n_queries",
    "n_without_relevant",
    "n_with_wrong",
    "mean_items_above",
    "median_items_above",
    "mean_wrong_above",
    "mean_unjudged_above",
    "share_first_relevant_top1",
    "share_relevant_beyond_topk",
    "mean_margin",
    "median_margin",
    "median_margin_nonrelevant",
)


def query_association(
    grades: Mapping[str, int], run: Mapping[str, float], judged: Mapping[str, float]
) -> QueryAssociation | None:
    """The figures of one query; None when it has no relevant item."""
    relevant = {d for d, g in grades.items() if g > 0 and d in judged}
    if not relevant:
        return None
    wrong = {d for d, g in grades.items() if g <= 0 and d in judged}
    order, _ = merged_order(run, judged)
    first = first_rank(order, relevant) or len(order)  # relevant docs are all in the order
    first_wrong = first_rank(order, wrong)
    above = [d for d, _ in order[: first - 1]]
    best_rel = max(judged[d] for d in relevant)
    nonrel = [(d, s) for d, s in order if d not in relevant]
    best_wrong = order[first_wrong - 1][0] if first_wrong is not None else None
    margin = judged[best_wrong] - best_rel if best_wrong is not None else None
    return QueryAssociation(
        first_relevant_rank=first,
        exact=order[first - 1][0] in run,
        wrong_above=sum(1 for d in above if d in wrong),
        unjudged_above=sum(1 for d in above if d not in grades),
        margin=margin,
        margin_nonrelevant=nonrel[0][1] - best_rel if nonrel else None,
        wrong_outranks_all=None if first_wrong is None else first_wrong < first,
        best_wrong=best_wrong,
        best_nonrelevant=nonrel[0][0] if nonrel else None,
    )


def association(
    qrels: Qrels,
    run: Run,
    judged: Run,
    queries: Mapping[str, str],
    snippets: Mapping[str, str] | None = None,
    worst: int = 10,
    resamples: int = 1000,
    seed: int = 0,
) -> Association:
    """Wrong-but-associated figures over the judged queries (see the module docstring)."""
    per_query: dict[str, QueryAssociation] = {}
    for qid in sorted(qrels):
        qa = query_association(qrels[qid], run.get(qid, {}), judged.get(qid, {}))
        if qa is not None:
            per_query[qid] = qa
    values = list(per_query.values())
    with_wrong = [a for a in values if a.wrong_outranks_all is not None]
    margins = [a.margin for a in with_wrong if a.margin is not None]
    nonrel = [a.margin_nonrelevant for a in values if a.margin_nonrelevant is not None]
    outranks = (
        bootstrap_mean([float(bool(a.wrong_outranks_all)) for a in with_wrong], resamples, seed)
        if with_wrong
        else None
    )
    return Association(
        n_queries=len(values),
        n_without_relevant=len(qrels) - len(values),
        n_with_wrong=len(with_wrong),
        mean_items_above=_mean([a.items_above for a in values]),
        median_items_above=_median([a.items_above for a in values]),
        mean_wrong_above=_mean([a.wrong_above for a in with_wrong]) if with_wrong else None,
        mean_unjudged_above=_mean([a.unjudged_above for a in values]),
        share_first_relevant_top1=_mean([float(a.first_relevant_rank == 1) for a in values]),
        share_relevant_beyond_topk=_mean([float(not a.exact) for a in values]),
        wrong_outranks_all=outranks,
        mean_margin=_mean(margins),
        median_margin=_median(margins),
        median_margin_nonrelevant=_median(nonrel),
        worst=_worst(per_query, queries, snippets or {}, worst),
        per_query=per_query,
    )


def _worst(
    per_query: Mapping[str, QueryAssociation],
    queries: Mapping[str, str],
    snippets: Mapping[str, str],
    n: int,
) -> list[dict[str, Any]]:
    """The ``n`` queries with the most items above their first relevant one (then the largest
    margin), with their texts and the best-scoring wrong item."""

    def key(item: tuple[str, QueryAssociation]) -> tuple[int, float, str]:
        qid, a = item
        margin = a.margin if a.margin is not None else a.margin_nonrelevant
        return (-a.items_above, -(margin if margin is not None else float("-inf")), qid)

    rows = []
    for qid, a in sorted(per_query.items(), key=key)[:n]:
        wrong = a.best_nonrelevant
        rows.append(
            {
                "query_id": qid,
                "query": queries.get(qid, ""),
                "first_relevant_rank": a.first_relevant_rank,
                "exact": a.exact,
                "items_above": a.items_above,
                "margin": nan_to_none(a.margin),
                "top_wrong": wrong,
                "top_wrong_judged": wrong is not None and wrong == a.best_wrong,
                "top_wrong_text": snippets.get(wrong, "") if wrong else "",
            }
        )
    return rows


def _mean(values: list[float] | list[int]) -> float | None:
    return float(statistics.fmean(values)) if values else None


def _median(values: list[float] | list[int]) -> float | None:
    return float(statistics.median(values)) if values else None
