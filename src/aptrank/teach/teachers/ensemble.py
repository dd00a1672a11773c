"""An ensemble teacher: a weighted sum of other teachers' scores, weights fit on judgments.

MODELS.md measured that the small local LLM judges are weak on SciFact and that no trained
cross-encoder ships offline; a teacher strong enough to be worth distilling is then a model
trained on the task's own judgments, *or an ensemble* of it with cheap, complementary scorers
(BM25's exact term matching, a dense model's paraphrase matching). The weights are fit on a dev
slice of the training queries (never the test split) by pairwise logistic regression: for every
(relevant, non-relevant) pair of one query the weighted score difference should be positive.

There is one fusion implementation: the ensemble is ``fuse(...)`` with ``norm=global``
(:mod:`aptrank.rankers.fuse`: each member divided by its fitted scale, so a pair's label depends
on that pair alone) and its weights come from :func:`aptrank.train.fusion.fit_pairwise`.

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
    from aptrank.train.fusion import fit_pairwise, pair_accuracy, pair_differences

    if not members:
        raise AptrankError("an ensemble needs at least one member")
    all_feats = np.asarray([f for docs in features.values() for f in docs.values()], float)
    if all_feats.ndim != 2 or all_feats.shape[1] != len(members):
        raise AptrankError(f"features must have one score per member ({len(members)})")
    scales = all_feats.std(axis=0)
    scales[scales == 0] = 1.0
    # the global normalisation applied to pair differences, as the ensemble was first fitted
    # (teacher ids, and so stored labels, stay those of the pre-fuse code)
    w = fit_pairwise(features, qrels, l2, scales=scales)
    pairs = len(pair_differences(features, qrels))
    accuracy = pair_accuracy(features, qrels, list(w), scales=scales)
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
        pairs,
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
        """``(n, members)`` scores → ``(n,)`` ensemble scores (NaN where a member has none):
        the ``fuse`` stage's global normalisation and weighted sum."""
        from aptrank.rankers.fuse import weighted_sum

        return weighted_sum(member_scores, self.fit.weights, self.fit.scales)

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
