"""Paired significance tests on per-query scores: a system against a baseline, same queries.

Two two-sided tests are computed for each pair: Student's paired t-test (``scipy.stats.ttest_rel``)
and a paired randomization test (random sign flips of the per-query differences, a fixed seed, so
results are reproducible). Across several systems compared with one baseline, Holm–Bonferroni
controls the family-wise error rate per metric.

Degenerate inputs never produce NaN: identical systems (all differences 0) get p = 1.0; fewer than
two queries get p = 1.0 (nothing to test); for the t-test, a constant non-zero difference (zero
variance) gets p = 0.0, the limit of the test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Method = Literal["t", "randomization"]
METHODS: tuple[str, ...] = ("t", "randomization")
METHOD_NAMES = {"t": "paired t-test", "randomization": "paired randomization test"}
DEFAULT_PERMUTATIONS = 10_000
DEFAULT_SEED = 0
_CHUNK_CELLS = 2_000_000  # sign-matrix cells per batch of permutations (16 MB as float64)


def _differences(scores: Sequence[float], baseline: Sequence[float]) -> Any:
    import numpy as np

    a = np.asarray(scores, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"paired scores must be two 1-d sequences of equal length: {a.shape} vs {b.shape}"
        )
    return a - b


def paired_t_test(scores: Sequence[float], baseline: Sequence[float]) -> float:
    """Two-sided p-value of Student's paired t-test of ``scores`` against ``baseline``.

    >>> paired_t_test([0.1, 0.5, 0.3], [0.1, 0.5, 0.3])
    1.0
    """
    d = _differences(scores, baseline)
    if d.size < 2 or not d.any():
        return 1.0
    if (d == d[0]).all():
        return 0.0
    from scipy import stats

    return float(stats.ttest_rel(scores, baseline).pvalue)


def randomization_test(
    scores: Sequence[float],
    baseline: Sequence[float],
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
) -> float:
    """Two-sided p-value of a paired randomization test (Fisher's sign-flip test).

    Each of ``n_permutations`` draws flips the sign of every per-query difference with probability
    1/2; the p-value is ``(1 + #{|sum of flipped| >= |sum observed|}) / (1 + n_permutations)``, so
    it is never 0. Deterministic for a given ``seed``.

    >>> randomization_test([0.1, 0.5], [0.1, 0.5])
    1.0
    """
    import numpy as np

    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    d = _differences(scores, baseline)
    if d.size < 2 or not d.any():
        return 1.0
    total = float(d.sum())
    observed = abs(total)
    tolerance = 1e-9 * max(1.0, observed)  # flipped sums equal to the observed one count as hits
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // d.size)
    hits = 0
    for start in range(0, n_permutations, chunk):
        rows = min(chunk, n_permutations - start)
        cells = rows * d.size
        bits = np.unpackbits(np.frombuffer(rng.bytes((cells + 7) // 8), dtype=np.uint8))
        flipped = bits[:cells].reshape(rows, d.size).astype(np.float64)
        sums = total - 2.0 * (flipped @ d)  # the sum with the flipped differences negated
        hits += int(np.count_nonzero(np.abs(sums) >= observed - tolerance))
    return (hits + 1) / (n_permutations + 1)


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order (compare each with alpha).

    >>> holm_bonferroni([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class PairedTest:
    """The outcome of one system-vs-baseline test on one metric.

    ``mean_delta`` is the system's mean minus the baseline's; ``p_t_test`` and ``p_randomization``
    are the raw two-sided p-values; ``p_value`` is the one of ``method``, Holm–Bonferroni adjusted
    when ``correction == "holm"``; ``significant`` is ``p_value < alpha``.
    """

    n_queries: int
    mean_delta: float
    p_t_test: float
    p_randomization: float
    method: str
    p_value: float
    correction: str | None
    alpha: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-able dict."""
        return asdict(self)


def paired_test(
    system: Mapping[str, float],
    baseline: Mapping[str, float],
    *,
    method: Method = "t",
    alpha: float = 0.05,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = DEFAULT_SEED,
) -> PairedTest:
    """Test per-query scores ``{query_id: value}`` of a system against a baseline's.

    Both must hold the same queries (as :class:`~aptrank.evaluate.metrics.Evaluation` per-query
    values on the same judgments do); the significance is that of ``method`` (no correction).
    """
    if method not in METHODS:
        raise ValueError(f"unknown test {method!r}; choose one of {', '.join(METHODS)}")
    if set(system) != set(baseline):
        missing = sorted(set(system) ^ set(baseline))[:5]
        raise ValueError(f"paired test needs the same queries on both sides; differing: {missing}")
    qids = sorted(baseline)
    a = [float(system[q]) for q in qids]
    b = [float(baseline[q]) for q in qids]
    p_t = paired_t_test(a, b)
    p_rand = randomization_test(a, b, n_permutations=n_permutations, seed=seed)
    p_value = p_t if method == "t" else p_rand
    delta = (sum(a) - sum(b)) / len(qids) if qids else 0.0
    return PairedTest(
        n_queries=len(qids),
        mean_delta=delta,
        p_t_test=p_t,
        p_randomization=p_rand,
        method=method,
        p_value=p_value,
        correction=None,
        alpha=alpha,
        significant=p_value < alpha,
    )
