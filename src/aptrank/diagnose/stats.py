"""Small statistics shared by the analyses: bootstrap intervals over queries, ROC-AUC with ties,
quantile bins, and the full-corpus view of a query's scores.

Bootstraps resample *queries* (the unit that varies between test collections), are seeded, and
run vectorised in numpy: one ``(n_resamples, n_queries)`` index matrix per call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aptrank.data.runs import ranked


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int  #: how many units (queries, pairs) the estimate is over

    def to_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ratio(
    numerators: Sequence[float] | np.ndarray,
    denominators: Sequence[float] | np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """``sum(num) / sum(den)`` with a bootstrap CI resampling the units (rows) together.

    >>> str(bootstrap_ratio([1, 1, 1], [1, 1, 1]))
    '1.000 [1.000, 1.000]'
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError("numerators and denominators must be 1-d and of the same length")
    if len(num) == 0 or den.sum() == 0:
        return Interval(math.nan, math.nan, math.nan, len(num))
    value = float(num.sum() / den.sum())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(resamples, len(num)))
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = num[idx].sum(axis=1) / den[idx].sum(axis=1)
    stats = stats[np.isfinite(stats)]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return Interval(value, float(low), float(high), len(num))


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """The mean of ``values`` (NaNs dropped) with a percentile-bootstrap CI.

    >>> bootstrap_mean([0.0, 1.0], resamples=200).value
    0.5
    """
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return bootstrap_ratio(arr, np.ones_like(arr), resamples, seed, confidence)


def auc(positives: Sequence[float] | np.ndarray, negatives: Sequence[float] | np.ndarray) -> float:
    """ROC-AUC: the share of (positive, negative) pairs where the positive scores higher, ties
    counted as half (Mann-Whitney U over average ranks). NaN when a side is empty.

    >>> auc([3.0, 1.0], [2.0, 1.0])
    0.625
    """
    from scipy.stats import rankdata

    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    ranks = rankdata(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


def quantile_bins(values: Mapping[str, float], n_bins: int = 4, unit: str = "") -> dict[str, str]:
    """Assign each key a label of the quantile bin its value falls in (duplicate edges merged).

    Labels name the value range, e.g. ``"3–5 words"``; integers print without decimals.

    >>> quantile_bins({"a": 1, "b": 2, "c": 3, "d": 4}, n_bins=2)
    {'a': '1–2', 'b': '1–2', 'c': '3–4', 'd': '3–4'}
    """
    keys = [k for k, v in values.items() if v is not None and math.isfinite(v)]
    if not keys:
        return {}
    arr = np.array([values[k] for k in keys], dtype=np.float64)
    edges = np.unique(np.quantile(arr, np.linspace(0, 1, n_bins + 1)[1:-1]))
    which = np.searchsorted(edges, arr, side="right")
    labels: dict[int, str] = {}
    for b in np.unique(which):
        members = arr[which == b]
        labels[int(b)] = _range_label(float(members.min()), float(members.max()), unit)
    return {k: labels[int(b)] for k, b in zip(keys, which)}


def _range_label(low: float, high: float, unit: str) -> str:
    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:.3g}"

    text = fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"
    return f"{text} {unit}".strip()


def rank_of(scores: Mapping[str, float], doc: str) -> int:
    """1-based rank of ``doc`` in ``scores`` in trec_eval's order (score desc, then id desc)."""
    s = scores[doc]
    return 1 + sum(1 for d, v in scores.items() if v > s or (v == s and d > doc))


def first_rank(
    order: Sequence[tuple[str, float]], docs: Mapping[str, int] | set[str]
) -> int | None:
    """1-based position of the first of ``docs`` in the ranked ``order``, or None."""
    for i, (doc, _) in enumerate(order, start=1):
        if doc in docs:
            return i
    return None


def merged_order(
    run: Mapping[str, float], judged: Mapping[str, float]
) -> tuple[list[tuple[str, float]], float | None]:
    """The query's top-k run and its judged-doc scores as one ranking (judged scores win where a
    doc is in both), and the score of the k-th run doc (below it, positions are lower bounds)."""
    merged = {**run, **judged}
    floor = min(run.values()) if run else None
    return ranked(merged), floor


def nan_to_none(x: float | None) -> float | None:
    """JSON has no NaN: missing figures are null."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)
