"""Role-flip sensitivity: how far a ranker's scores and top-k move when a query is perturbed.

For each query, its original top-k documents (``k`` small, 10 by default) are scored under the
original and under each perturbed query: each perturbed query retrieves its own top ``depth``
(which holds most of those documents' scores; ``rerank`` gives the rest). Per perturbation:

* ``kendall_tau`` / ``spearman``: rank correlation (scipy, tau-b) of the original top-k documents'
  scores under the original vs the perturbed query (1 = same order);
* ``overlap``: share of the original top-k still in the perturbed query's top-k;
* ``mean_abs_delta``: mean |score change| on the original top-k, and ``relative_delta`` the same
  divided by the spread (max - min) of the original top-k scores, comparable across rankers;
* ``top1_changed``, ``identical`` (every score unchanged, up to float rounding: then τ = 1).

Summaries are by kind (flip vs control) and by rule, with bootstrap CIs over perturbed queries.
A ranker that measures association barely moves under a flip: its ``tau_gap`` (control tau minus
flip tau) is near zero.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aptrank.data.runs import cut, ranked
from aptrank.diagnose.perturb import Perturbation
from aptrank.diagnose.stats import Interval, bootstrap_mean, nan_to_none
from aptrank.rankers.base import Ranker
from aptrank.types import Run

#: Relative tolerance under which two scores are the same (scores of one document from a
#: ranking and from a rerank may differ in the last bits of a float32 product).
SAME = 1e-6
SEP = "\x1f"  # joins a query id and a perturbation number into a perturbed query's id


@dataclass(frozen=True)
class PerturbedScores:
    """What the ranker said, as plain data (see :func:`score_perturbations`)."""

    original: Run  #: {qid: {doc: score}}: the original query on its own top-k (via rerank)
    perturbed: Run  #: {qid<SEP>i: {doc: score}}: perturbation i on the same documents
    perturbed_top: Run  #: {qid<SEP>i: {doc: score}}: perturbation i's own top-k


@dataclass(frozen=True)
class Movement:
    kendall_tau: float | None
    spearman: float | None
    overlap: float
    mean_abs_delta: float
    relative_delta: float | None
    top1_changed: bool
    identical: bool


@dataclass(frozen=True)
class MovementSummary:
    n: int
    kendall_tau: Interval
    spearman: float | None
    overlap: Interval
    mean_abs_delta: float
    relative_delta: float | None
    top1_changed: float
    identical: float

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["kendall_tau"] = self.kendall_tau.to_dict()
        out["overlap"] = self.overlap.to_dict()
        return out


@dataclass(frozen=True)
class RoleFlip:
    k: int
    n_queries: int  #: queries with at least one perturbation scored
    rules_fired: dict[str, int]
    by_kind: dict[str, MovementSummary]
    by_rule: dict[str, MovementSummary]
    tau_gap: float | None  #: control minus flip mean Kendall tau (> 0: flips move it more)
    overlap_gap: float | None  #: control minus flip mean overlap
    instances: list[dict[str, Any]] = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("by_kind", "by_rule")}
        out["by_kind"] = {k: s.to_dict() for k, s in self.by_kind.items()}
        out["by_rule"] = {r: s.to_dict() for r, s in self.by_rule.items()}
        return out


def score_perturbations(
    ranker: Ranker,
    original: Mapping[str, Mapping[str, float]],
    perturbed: Mapping[str, Sequence[Perturbation]],
    k: int,
    depth: int = 100,
) -> PerturbedScores:
    """Ask ``ranker`` for the scores :func:`role_flip` needs: ``original`` holds each query's top
    documents with the scores of its ranking; every perturbed query retrieves its own top
    ``depth``, which gives its top ``k`` and (mostly) its scores of the original top documents;
    the rest come from ``rerank``."""
    from aptrank.diagnose.scoring import rank_and_score

    qids = [q for q in perturbed if perturbed[q] and original.get(q)]
    texts = {f"{q}{SEP}{i}": p.text for q in qids for i, p in enumerate(perturbed[q])}
    wanted = {f"{q}{SEP}{i}": list(original[q]) for q in qids for i in range(len(perturbed[q]))}
    top, scores = rank_and_score(ranker, texts, wanted, max(k, depth))
    return PerturbedScores(
        original={q: dict(original[q]) for q in qids},
        perturbed=scores,
        perturbed_top=cut(top, k) if top else {},
    )


def movement(
    original: Mapping[str, float],
    perturbed: Mapping[str, float],
    perturbed_top: Mapping[str, float],
) -> Movement | None:
    """How one perturbation moved one query's top-k; None with fewer than two documents."""
    docs = [d for d, _ in ranked(original) if d in perturbed]
    if len(docs) < 2:
        return None
    a = np.array([original[d] for d in docs], dtype=np.float64)
    b = np.array([perturbed[d] for d in docs], dtype=np.float64)
    same = bool(np.allclose(a, b, rtol=SAME, atol=SAME * float(np.abs(a).max())))
    tau, rho = (1.0, 1.0) if same else _correlations(a, b)
    spread = float(a.max() - a.min())
    delta = float(np.abs(b - a).mean())
    new_top = ranked(perturbed_top)
    return Movement(
        kendall_tau=tau,
        spearman=rho,
        overlap=len(set(docs) & set(perturbed_top)) / len(docs),
        mean_abs_delta=delta,
        relative_delta=delta / spread if spread > 0 else None,
        top1_changed=not new_top or new_top[0][0] != docs[0],
        identical=same,
    )


def _correlations(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    from scipy.stats import kendalltau, spearmanr

    if np.array_equal(a, b):
        return 1.0, 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nan_to_none(float(kendalltau(a, b).statistic)), nan_to_none(
            float(spearmanr(a, b).statistic)
        )


def role_flip(
    perturbed: Mapping[str, Sequence[Perturbation]],
    scores: PerturbedScores,
    k: int,
    resamples: int = 1000,
    seed: int = 0,
) -> RoleFlip:
    """Sensitivity figures by kind and rule (see the module docstring)."""
    from aptrank.diagnose.perturb import rule_counts

    rows: list[tuple[Perturbation, Movement, str]] = []
    for qid, ps in perturbed.items():
        for i, p in enumerate(ps):
            pid = f"{qid}{SEP}{i}"
            if qid not in scores.original or pid not in scores.perturbed:
                continue
            m = movement(
                scores.original[qid], scores.perturbed[pid], scores.perturbed_top.get(pid, {})
            )
            if m is not None:
                rows.append((p, m, qid))
    skipped = {}
    by_kind = {}
    for kind in ("flip", "control"):
        group = [m for p, m, _ in rows if p.kind == kind]
        if group:
            by_kind[kind] = _summary(group, resamples, seed)
        else:
            skipped[kind] = f"no {kind} rule fired on a query with at least two retrieved documents"
    rules = sorted({p.rule for p, _, _ in rows})
    by_rule = {r: _summary([m for p, m, _ in rows if p.rule == r], resamples, seed) for r in rules}
    return RoleFlip(
        k=k,
        n_queries=len({q for _, _, q in rows}),
        rules_fired=rule_counts(perturbed),
        by_kind=by_kind,
        by_rule=by_rule,
        tau_gap=_gap(by_kind, "kendall_tau"),
        overlap_gap=_gap(by_kind, "overlap"),
        instances=[_instance(p, m, q) for p, m, q in rows],
        skipped=skipped,
    )


def _summary(group: list[Movement], resamples: int, seed: int) -> MovementSummary:
    taus = [m.kendall_tau for m in group if m.kendall_tau is not None]
    rhos = [m.spearman for m in group if m.spearman is not None]
    rel = [m.relative_delta for m in group if m.relative_delta is not None]
    return MovementSummary(
        n=len(group),
        kendall_tau=bootstrap_mean(taus, resamples, seed),
        spearman=statistics.fmean(rhos) if rhos else None,
        overlap=bootstrap_mean([m.overlap for m in group], resamples, seed),
        mean_abs_delta=statistics.fmean(m.mean_abs_delta for m in group),
        relative_delta=statistics.fmean(rel) if rel else None,
        top1_changed=statistics.fmean(m.top1_changed for m in group),
        identical=statistics.fmean(m.identical for m in group),
    )


def _gap(by_kind: Mapping[str, MovementSummary], attr: str) -> float | None:
    if "flip" not in by_kind or "control" not in by_kind:
        return None
    diff = getattr(by_kind["control"], attr).value - getattr(by_kind["flip"], attr).value
    return None if math.isnan(diff) else float(diff)


def _instance(p: Perturbation, m: Movement, qid: str) -> dict[str, Any]:
    return {
        "query_id": qid,
        "kind": p.kind,
        "rule": p.rule,
        "detail": p.detail,
        "text": p.text,
        "kendall_tau": m.kendall_tau,
        "overlap": m.overlap,
        "relative_delta": m.relative_delta,
        "identical": m.identical,
    }
