"""The glue between one ranker's scores and the analyses: one function per report section.

Each takes the ranker and the :class:`Inputs` and returns ``(figures, None)``, or
``(None, reason)`` when the section does not apply to the dataset. Only ``role_flip`` calls the
ranker again (to score the perturbed queries); the others read plain data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aptrank.rankers.base import Ranker
from aptrank.types import Dataset, Run

Section = Callable[[Ranker, "Inputs"], tuple[Any, "str | None"]]

NO_RELEVANT = "no judged query has a relevant item (grade > 0)"
NO_PERTURBATION = "no perturbation rule fired on a query that has at least two retrieved documents"


@dataclass(frozen=True)
class Inputs:
    """One ranker's view of the dataset, as plain data."""

    dataset: Dataset
    queries: Mapping[str, str]  #: the judged queries' texts
    run: Run  #: the ranker's top-k
    judged: Run  #: the ranker's scores of every judged document (full corpus)
    top: Run  #: the ranker's top ``perturb_k`` documents
    perturbed: Mapping[str, Any]  #: {qid: [Perturbation]}
    groupings: list[Any]  #: ranker-independent strata groupings
    config: Any  #: DiagnoseConfig
    snippets: Mapping[str, str]  #: short document texts


def association_section(ranker: Ranker, x: Inputs) -> tuple[Any, str | None]:
    from aptrank.diagnose.association import association

    cfg = x.config
    result = association(
        x.dataset.qrels, x.run, x.judged, x.queries, x.snippets, cfg.worst, cfg.resamples, cfg.seed
    )
    return (result, None) if result.n_queries else (None, NO_RELEVANT)


def separability_section(ranker: Ranker, x: Inputs) -> tuple[Any, str | None]:
    from aptrank.diagnose.separability import separability

    cfg = x.config
    result = separability(
        x.dataset.qrels, x.run, x.judged, cfg.hard_negatives, cfg.resamples, cfg.seed
    )
    return (result, None) if result.n_queries else (None, NO_RELEVANT)


def constraint_section(ranker: Ranker, x: Inputs) -> tuple[Any, str | None]:
    from aptrank.diagnose.constraints import SKIP_REASON, constraint_pairs

    cfg = x.config
    result = constraint_pairs(x.dataset.qrels, x.run, x.judged, cfg.depth, cfg.resamples, cfg.seed)
    return (result, None) if result is not None else (None, SKIP_REASON)


def role_flip_section(ranker: Ranker, x: Inputs) -> tuple[Any, str | None]:
    from aptrank.diagnose.sensitivity import role_flip, score_perturbations

    cfg = x.config
    scores = score_perturbations(ranker, x.top, x.perturbed, cfg.perturb_k, cfg.depth)
    result = role_flip(x.perturbed, scores, cfg.perturb_k, cfg.resamples, cfg.seed)
    return (result, None) if result.by_kind else (None, NO_PERTURBATION)


def strata_section(ranker: Ranker, x: Inputs) -> tuple[Any, str | None]:
    from aptrank.diagnose.strata import near_ties, strata
    from aptrank.evaluate import Evaluator, parse_metric

    cfg = x.config
    metric = parse_metric(cfg.metric).name
    qrels = {q: j for q, j in x.dataset.qrels.items() if any(g > 0 for g in j.values())}
    if not qrels:
        return None, NO_RELEVANT
    values = Evaluator(qrels, [metric]).evaluate(x.run).per_query[metric]
    # length, clarity (ranker-independent), near-ties (this ranker's), then the rest
    groupings = [*x.groupings[:2], near_ties(x.run), *x.groupings[2:]]
    return strata(metric, values, groupings, cfg.resamples, cfg.seed), None


SECTION_FUNCTIONS: Mapping[str, Section] = {
    "association": association_section,
    "separability": separability_section,
    "constraint_pairs": constraint_section,
    "role_flip": role_flip_section,
    "strata": strata_section,
}
