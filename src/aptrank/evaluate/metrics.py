"""Ranking metrics, per query and averaged, by trec_eval (ir_measures' pytrec_eval backend).

Metric names are lowercase strings: ``ndcg@k``, ``recall@k``, ``precision@k``, ``mrr@k`` and
``map`` (``k`` a positive integer). Conventions, identical to trec_eval's:

* **Which queries count.** The mean is over the queries of the judgments that have at least one
  judgment with grade > 0. Queries whose judgments are all grade 0 are not evaluated (they are
  neither in the mean nor in the per-query values); queries of the run without judgments are
  ignored.
* **Missing rankings.** A judged query missing from the run, or with an empty ranking, scores 0.
* **Order and ties.** Documents are ranked by score descending, ties broken by doc id descending
  (string comparison), as trec_eval does (:func:`aptrank.data.runs.ranked`).
* **Relevance.** ``recall@k``, ``precision@k``, ``mrr@k`` and ``map`` count grade >= 1 as relevant
  (trec_eval's default ``relevance_level`` 1). ``ndcg@k`` is trec_eval's ``ndcg_cut_k``: linear
  gains (gain = grade), discount ``log2(rank + 1)``, ideal ranking built from all judgments.
* **MRR.** ``mrr@k`` is trec_eval's ``recip_rank`` on the run cut to its top ``k`` documents (cut in
  the order above). ir_measures' own ``RR@k`` is not used: its pytrec_eval backend has no cutoff for
  RR, and the provider it falls back to breaks ties by doc id ascending.
* ``map`` is trec_eval's ``map`` over the whole ranking; ``recall@k`` is trec_eval's ``recall_k``
  (relevant documents in the top ``k`` over all relevant documents of the query).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aptrank.data.runs import cut
from aptrank.errors import DataError
from aptrank.types import Qrels, Run

logger = logging.getLogger(__name__)

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map")
KNOWN_METRICS: tuple[str, ...] = ("ndcg@k", "recall@k", "precision@k", "mrr@k", "map")

_CUTOFF_FAMILIES = ("ndcg", "recall", "precision", "mrr")
_PLAIN_FAMILIES = ("map",)
_NAME = re.compile(r"^([a-z]+)(?:@(\d+))?$")


@dataclass(frozen=True)
class Metric:
    """A parsed metric name: ``family`` (``ndcg``, ``recall``, ``precision``, ``mrr``, ``map``)
    and cutoff ``k`` (``None`` for ``map``).

    >>> parse_metric("nDCG@10")
    Metric(family='ndcg', k=10)
    >>> parse_metric("ndcg@10").name
    'ndcg@10'
    """

    family: str
    k: int | None = None

    @property
    def name(self) -> str:
        """The canonical lowercase name, e.g. ``ndcg@10`` or ``map``."""
        return self.family if self.k is None else f"{self.family}@{self.k}"


def parse_metric(name: str) -> Metric:
    """Parse a metric name such as ``ndcg@10`` (case and surrounding spaces are ignored).

    Raises ``ValueError`` naming the known metrics when ``name`` is not one of them.
    """
    text = str(name).strip().lower()
    match = _NAME.match(text)
    family = match.group(1) if match else None
    k = int(match.group(2)) if match and match.group(2) is not None else None
    if family in _CUTOFF_FAMILIES and k is not None and k >= 1:
        return Metric(family, k)
    if family in _PLAIN_FAMILIES and k is None:
        return Metric(family)
    known = ", ".join(KNOWN_METRICS)
    raise ValueError(
        f"unknown metric {name!r}; known metrics: {known} (k a positive integer, e.g. ndcg@10)"
    )


def parse_metrics(names: Iterable[str] | str) -> tuple[Metric, ...]:
    """Parse several metric names (a single string is one name); duplicates are dropped."""
    if isinstance(names, str):
        names = [names]
    parsed: dict[str, Metric] = {}
    for name in names:
        metric = parse_metric(name)
        parsed.setdefault(metric.name, metric)
    if not parsed:
        raise ValueError(f"no metric given; known metrics: {', '.join(KNOWN_METRICS)}")
    return tuple(parsed.values())


@dataclass(frozen=True)
class Evaluation:
    """One run scored on one set of judgments.

    ``means[metric]`` is the mean over the ``n_queries`` evaluated queries (those with a judgment of
    grade > 0); ``per_query[metric][query_id]`` holds every evaluated query, 0 for those the run
    misses. See the module docstring for the conventions.
    """

    metrics: tuple[str, ...]
    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict: ``metrics``, ``n_queries``, ``means`` and ``per_query``."""
        return {
            "metrics": list(self.metrics),
            "n_queries": self.n_queries,
            "means": dict(self.means),
            "per_query": {m: dict(values) for m, values in self.per_query.items()},
        }


class Evaluator:
    """Scores runs against fixed judgments; build it once to score many runs.

    >>> ev = Evaluator({"q1": {"d1": 1}}, ["mrr@10"])
    >>> ev.evaluate({"q1": {"d2": 2.0, "d1": 1.0}}).means
    {'mrr@10': 0.5}
    """

    def __init__(
        self, qrels: Mapping[str, Mapping[str, int]], metrics: Iterable[str] = DEFAULT_METRICS
    ) -> None:
        self.metrics = parse_metrics(metrics)
        self.qrels = _evaluable_qrels(qrels)
        self._main, self._rr = _build_evaluators(self.metrics, self.qrels)

    @property
    def query_ids(self) -> list[str]:
        """The evaluated queries (those with at least one judgment of grade > 0), sorted."""
        return sorted(self.qrels)

    def evaluate(self, run: Mapping[str, Mapping[str, float]]) -> Evaluation:
        """Score ``run`` (not modified); see the module docstring for the conventions."""
        clean = _clean_run(run, self.qrels)
        values: dict[str, dict[str, float]] = {m.name: {} for m in self.metrics}
        if self._main is not None:
            evaluator, names = self._main
            for row in evaluator.iter_calc(clean):
                values[names[row.measure]][row.query_id] = float(row.value)
        if self._rr is not None:
            evaluator, cutoffs = self._rr
            for k in cutoffs:
                name = Metric("mrr", k).name
                for row in evaluator.iter_calc(cut(clean, k)):
                    values[name][row.query_id] = float(row.value)
        qids = self.query_ids
        per_query = {m: {q: values[m].get(q, 0.0) for q in qids} for m in values}
        means = {m: math.fsum(v.values()) / len(qids) for m, v in per_query.items()}
        return Evaluation(tuple(values), means, per_query, len(qids))


def evaluate(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Iterable[str] = DEFAULT_METRICS,
) -> Evaluation:
    """Score ``run`` against ``qrels`` with trec_eval's metrics (inputs are not modified).

    The mean is over the queries with at least one judgment of grade > 0; a judged query missing
    from the run (or with an empty ranking) scores 0; ties are broken by doc id descending;
    ``mrr@k`` is ``recip_rank`` on the run cut at ``k``; grade >= 1 is relevant. Raises
    ``ValueError`` on an unknown metric and :class:`~aptrank.errors.DataError` when no query has a
    relevant judgment or a score is not a number.

    >>> qrels = {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 0}}
    >>> evaluate(qrels, {"q1": {"d2": 1.0, "d1": 1.0}}, ["mrr@10", "map"]).means
    {'mrr@10': 0.5, 'map': 0.5}
    """
    return Evaluator(qrels, metrics).evaluate(run)


def _evaluable_qrels(qrels: Mapping[str, Mapping[str, int]]) -> Qrels:
    """A copy of ``qrels`` (integer grades) keeping the queries with a grade > 0."""
    kept: Qrels = {}
    for qid, judged in qrels.items():
        grades: dict[str, int] = {}
        for docid, grade in judged.items():
            try:
                integral = not isinstance(grade, bool) and int(grade) == grade
            except (TypeError, ValueError):
                integral = False
            if not integral:
                raise DataError(f"grade {grade!r} of query {qid!r} doc {docid!r} is not an integer")
            grades[str(docid)] = int(grade)
        if any(g > 0 for g in grades.values()):
            kept[str(qid)] = grades
    skipped = len(qrels) - len(kept)
    if skipped:
        logger.info("%d judged queries have no relevant judgment and are not evaluated", skipped)
    if not kept:
        raise DataError("no query in the judgments has a relevant judgment (grade > 0)")
    return kept


def _clean_run(run: Mapping[str, Mapping[str, float]], qrels: Qrels) -> Run:
    """A copy of ``run`` restricted to the judged queries, scores as floats (NaN rejected)."""
    clean: Run = {}
    for qid, scores in run.items():
        if qid not in qrels:
            continue
        clean[qid] = {}
        for docid, score in scores.items():
            value = float(score)
            if math.isnan(value):
                raise DataError(f"score of query {qid!r} doc {docid!r} is NaN")
            clean[qid][str(docid)] = value
    return clean


def _build_evaluators(metrics: tuple[Metric, ...], qrels: Qrels) -> tuple[Any, Any]:
    """ir_measures' pytrec_eval evaluators: one for the metrics computed on the full run (with a
    measure -> name map), one for ``recip_rank`` on the cut runs (with the cutoffs)."""
    import ir_measures
    from ir_measures import AP, RR, P, R, nDCG

    factories = {"ndcg": nDCG, "recall": R, "precision": P}
    names: dict[Any, str] = {}
    for metric in metrics:
        if metric.family == "map":
            names[AP] = metric.name
        elif metric.family in factories:
            names[factories[metric.family] @ metric.k] = metric.name
    cutoffs = [m.k for m in metrics if m.family == "mrr"]
    provider = ir_measures.pytrec_eval
    main = (provider.evaluator(list(names), qrels), names) if names else None
    rr = (provider.evaluator([RR], qrels), cutoffs) if cutoffs else None
    return main, rr
