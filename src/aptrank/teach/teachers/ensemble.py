"""An ensemble teacher: a weighted sum of other teachers' scores, weights fit on judgments.

MODELS.md measured that the small local LLM judges are weak on SciFact and that no trained
cross-encoder ships offline; a teacher strong enough to be worth distilling is then a model
trained on the task's own judgments, *or an ensemble* of it with cheap, complementary scorers
(BM25's exact term matching, a dense model's paraphrase matching). The weights are fit on a dev
slice of the training queries (never the test split) by pairwise logistic regression: for every
(relevant, non-relevant) pair of one query the weighted score difference should be positive.
Pairwise, because only the order within a query matters, and per-query offsets (BM25 scores grow
with query length) cancel in the difference. scikit-learn would do the fit too, but it is not a
dependency of aptrank and the problem is a dozen lines of :func:`scipy.optimize.minimize`.

Members' labels are usually in the label store already, so :func:`label_ensemble` labels with
each member first (each resumable) and stores the ensemble's labels computed from theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aptrank.errors import AptrankError
from aptrank.teach.store import LabelRow, LabelStore, text_hash
from aptrank.teach.teachers.base import Teacher, teacher_id
from aptrank.types import Qrels


@dataclass(frozen=True)
class EnsembleFit:
    """Weights per member (applied to scores divided by ``scales``) and how the fit went."""

    members: tuple[str, ...]  #: member teacher ids
    weights: tuple[float, ...]
    scales: tuple[float, ...]  #: each member's score standard deviation on the fit pairs
    pairs: int  #: (relevant, non-relevant) pairs the fit used
    queries: int
    pair_accuracy: float  #: share of those pairs ordered correctly by the fitted ensemble

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _pair_differences(
    features: Mapping[str, Mapping[str, Sequence[float]]], qrels: Qrels
) -> np.ndarray:
    """Feature differences (relevant − non-relevant) for every ordered pair of every query."""
    rows: list[np.ndarray] = []
    for qid, docs in features.items():
        judged = qrels.get(qid, {})
        pos = [np.asarray(f, float) for d, f in docs.items() if judged.get(d, 0) > 0]
        neg = [np.asarray(f, float) for d, f in docs.items() if judged.get(d, 0) <= 0]
        rows.extend(p - n for p in pos for n in neg)
    return np.asarray(rows, dtype=float)


def fit_ensemble(
    features: Mapping[str, Mapping[str, Sequence[float]]],
    qrels: Qrels,
    members: Sequence[str],
    l2: float = 1e-3,
) -> EnsembleFit:
    """Fit member weights on ``features[qid][docid] = [score of member 0, 1, ...]``.

    Documents of a query without a positive grade in ``qrels`` count as non-relevant (mined
    candidates are mostly unjudged). Queries without both kinds contribute nothing.

    >>> feats = {"q": {"a": [3.0, 0.1], "b": [1.0, 0.9], "c": [2.0, 0.0]}}
    >>> fit = fit_ensemble(feats, {"q": {"a": 1}}, ["bm25", "noise"])
    >>> fit.pair_accuracy, fit.weights[0] > abs(fit.weights[1])
    (1.0, True)
    """
    from scipy.optimize import minimize
    from scipy.special import log_expit

    if not members:
        raise AptrankError("an ensemble needs at least one member")
    all_feats = np.asarray([f for docs in features.values() for f in docs.values()], float)
    if all_feats.ndim != 2 or all_feats.shape[1] != len(members):
        raise AptrankError(f"features must have one score per member ({len(members)})")
    scales = all_feats.std(axis=0)
    scales[scales == 0] = 1.0
    diffs = _pair_differences(features, qrels) / scales
    if len(diffs) == 0:
        raise AptrankError("no query has both a relevant and a non-relevant candidate to fit on")

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        margin = diffs @ w
        value = -log_expit(margin).mean() + l2 * (w @ w)
        grad = -(diffs * (1 - np.exp(log_expit(margin)))[:, None]).mean(axis=0) + 2 * l2 * w
        return float(value), grad

    start = np.ones(len(members)) / len(members)
    w = minimize(loss, start, jac=True, method="L-BFGS-B").x
    margin = diffs @ w
    accuracy = float(((margin > 0) + 0.5 * (margin == 0)).mean())
    n_queries = sum(
        1
        for qid, docs in features.items()
        if any(qrels.get(qid, {}).get(d, 0) > 0 for d in docs)
        and any(qrels.get(qid, {}).get(d, 0) <= 0 for d in docs)
    )
    return EnsembleFit(
        tuple(members),
        tuple(map(float, w)),
        tuple(map(float, scales)),
        len(diffs),
        n_queries,
        accuracy,
    )


class EnsembleTeacher:
    """Score = Σ weight_i · member_i(pair) / scale_i, weights from an :class:`EnsembleFit`."""

    name = "ensemble"

    def __init__(self, members: Sequence[Teacher], fit: EnsembleFit, batch_size: int = 32):
        ids = tuple(teacher_id(m) for m in members)
        if ids != fit.members:
            raise AptrankError(f"the fit is for members {fit.members}, got {ids}")
        self.members = list(members)
        self.fit = fit
        self.batch_size = batch_size
        #: NDCG@10 on the dev slice with cross-fitted weights, when the builder measured it
        self.dev_crossfit: float | None = None

    def config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "members": list(self.fit.members),
            "weights": [round(w, 8) for w in self.fit.weights],
            "scales": [round(s, 8) for s in self.fit.scales],
        }

    def combine(self, member_scores: np.ndarray) -> np.ndarray:
        """``(n, members)`` scores → ``(n,)`` ensemble scores (NaN where a member has none)."""
        return (np.asarray(member_scores, float) / self.fit.scales) @ np.asarray(self.fit.weights)

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.combine(np.stack([m.score(pairs) for m in self.members], axis=1))

    def __repr__(self) -> str:
        return f"EnsembleTeacher({', '.join(self.fit.members)})"


def label_ensemble(
    ensemble: EnsembleTeacher,
    store: LabelStore,
    pairs: Sequence[tuple[str, str, str, str]],
    label_members: bool = True,
    **label_kwargs: object,
) -> int:
    """Label ``pairs`` with every member (resumable; skipped with ``label_members=False`` when
    the caller has), then store the ensemble's labels computed from the members' stored
    labels; returns how many ensemble labels were added."""
    from aptrank.teach.labeling import label_pairs

    for member in ensemble.members if label_members else ():
        label_pairs(member, store, pairs, **label_kwargs)  # type: ignore[arg-type]
    tid = teacher_id(ensemble)
    store.register_teacher(tid, ensemble.config())
    todo = set(store.missing(tid, [(q, d) for q, _, d, _ in pairs]))
    if not todo:
        return 0
    labels = [store.get(mid) for mid in ensemble.fit.members]
    rows = []
    for qid, qtext, did, dtext in pairs:
        if (qid, did) not in todo:
            continue
        todo.discard((qid, did))
        feats = [lab.get(qid, {}).get(did, np.nan) for lab in labels]
        value = float(ensemble.combine(np.asarray([feats]))[0])
        if np.isfinite(value):
            rows.append(LabelRow(qid, did, value, text_hash(qtext), text_hash(dtext)))
    return store.put_many(tid, rows)
