"""The shared statistics, checked by hand."""

from __future__ import annotations

import math

import pytest

from aptrank.diagnose.stats import (
    auc,
    bootstrap_mean,
    bootstrap_ratio,
    merged_order,
    quantile_bins,
    rank_of,
)


def test_auc_counts_ties_as_half():
    # pairs: 3>2, 3>1, 1<2, 1=1 -> (1 + 1 + 0 + 0.5) / 4
    assert auc([3.0, 1.0], [2.0, 1.0]) == pytest.approx(0.625)
    assert auc([1.0], [1.0]) == 0.5
    assert auc([2.0, 3.0], [0.0, 1.0]) == 1.0
    assert math.isnan(auc([], [1.0]))


def test_bootstrap_ratio_is_seeded_and_brackets_the_value():
    a = bootstrap_ratio([1, 0, 1, 1], [1, 1, 2, 1], resamples=500, seed=3)
    b = bootstrap_ratio([1, 0, 1, 1], [1, 1, 2, 1], resamples=500, seed=3)
    assert a == b
    assert a.value == pytest.approx(3 / 5)
    assert 0.0 <= a.low <= a.value <= a.high <= 1.0
    assert a.n == 4


def test_bootstrap_of_nothing_is_nan_not_an_error():
    empty = bootstrap_mean([])
    assert math.isnan(empty.value) and empty.n == 0
    assert bootstrap_mean([float("nan"), 1.0]).value == 1.0  # NaNs dropped


def test_quantile_bins_label_ranges_in_order():
    bins = quantile_bins({"a": 1, "b": 2, "c": 3, "d": 4}, n_bins=2, unit="words")
    assert bins == {"a": "1–2 words", "b": "1–2 words", "c": "3–4 words", "d": "3–4 words"}
    # all equal: one bin
    assert set(quantile_bins({"a": 5, "b": 5}).values()) == {"5"}


def test_merged_order_and_rank_follow_trec_eval_ties():
    order, floor = merged_order({"a": 2.0, "b": 2.0}, {"z": 2.0, "r": 1.0})
    assert [d for d, _ in order] == ["z", "b", "a", "r"]  # ties: doc id descending
    assert floor == 2.0
    assert rank_of({"a": 2.0, "b": 2.0, "c": 3.0}, "a") == 3
