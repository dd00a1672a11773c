"""Paired t-test, randomization test and Holm–Bonferroni on small hand-checked inputs."""

from __future__ import annotations

import math
import warnings

import pytest

from aptrank.evaluate import holm_bonferroni, paired_t_test, paired_test, randomization_test

BASE = [0.10, 0.35, 0.20, 0.55, 0.40, 0.05, 0.30, 0.60, 0.25, 0.45, 0.15, 0.50]
NOISE = [0.02, -0.01, 0.03, 0.00, -0.02, 0.01, 0.02, -0.03, 0.01, 0.00, 0.03, -0.01]
BETTER = [b + 0.3 + n for b, n in zip(BASE, NOISE)]


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_identical_systems_have_p_one():
    assert paired_t_test(BASE, BASE) == 1.0
    assert randomization_test(BASE, BASE) == 1.0
    test = paired_test(_per_query(BASE), _per_query(BASE))
    assert (test.p_t_test, test.p_randomization, test.p_value) == (1.0, 1.0, 1.0)
    assert test.mean_delta == 0.0
    assert not test.significant


def test_clearly_better_system_is_significant():
    assert paired_t_test(BETTER, BASE) < 0.05
    assert randomization_test(BETTER, BASE) < 0.05
    for method in ("t", "randomization"):
        test = paired_test(_per_query(BETTER), _per_query(BASE), method=method)
        assert test.significant
        assert test.mean_delta == pytest.approx(0.3 + sum(NOISE) / len(NOISE))
        assert test.n_queries == len(BASE)


def test_t_test_matches_closed_form():
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt(3)) = 2 sqrt(3), 2 degrees of freedom;
    # for df = 2 the two-sided p-value is 1 - t / sqrt(2 + t^2) = 1 - 2 sqrt(3) / sqrt(14)
    assert paired_t_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == pytest.approx(
        1 - 2 * math.sqrt(3) / math.sqrt(14)
    )


def test_randomization_matches_exact_distribution():
    # 5 equal positive differences: of the 2^5 sign patterns only all-plus and all-minus reach
    # |sum| = 5, so the exact p-value is 2/32 = 0.0625
    p = randomization_test([1.0] * 5, [0.0] * 5, n_permutations=20_000, seed=1)
    assert p == pytest.approx(2 / 32, abs=0.006)
    # differences 1, -1: every pattern reaches |sum| >= 0 -> p = 1
    assert randomization_test([1.0, 0.0], [0.0, 1.0]) == 1.0


def test_randomization_is_deterministic_with_the_seed():
    a = randomization_test(BETTER[:6], BASE[:6], n_permutations=1000, seed=3)
    assert a == randomization_test(BETTER[:6], BASE[:6], n_permutations=1000, seed=3)
    assert (a * 1001) == pytest.approx(round(a * 1001))  # (hits + 1) / (n + 1)


def test_degenerate_inputs_give_no_nan():
    # constant non-zero difference: zero variance, the t-test's limit is p = 0
    assert paired_t_test([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]) == pytest.approx(0.0, abs=1e-9)
    assert paired_t_test([1.0], [0.0]) == 1.0  # one query: nothing to test
    assert randomization_test([1.0], [0.0]) == 1.0
    assert paired_t_test([], []) == 1.0


def test_holm_bonferroni_by_hand():
    # sorted p: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm_bonferroni([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_bonferroni([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    assert holm_bonferroni([]) == []


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="same queries"):
        paired_test({"q1": 1.0}, {"q2": 1.0})
    with pytest.raises(ValueError, match="unknown test"):
        paired_test({"q1": 1.0}, {"q1": 1.0}, method="wilcoxon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="equal length"):
        paired_t_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="n_permutations"):
        randomization_test([1.0, 2.0], [0.0, 0.0], n_permutations=0)


def _per_query(values: list[float]) -> dict[str, float]:
    return {f"q{i:02d}": v for i, v in enumerate(values)}
