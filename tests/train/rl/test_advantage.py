from __future__ import annotations

import math

import pytest

from aptrank.train.rl.advantage import EPS, group_advantages, group_std, zero_std_fraction


def test_group_advantage_by_hand():
    # group 1: rewards 0, 1, 2 -> mean 1, sample std 1; group 2: 4, 4, 4 -> all zero
    adv = group_advantages([0.0, 1.0, 2.0, 4.0, 4.0, 4.0], 3)
    assert adv[:3] == pytest.approx([-1 / (1 + EPS), 0.0, 1 / (1 + EPS)])
    assert adv[3:] == [0.0, 0.0, 0.0]


def test_unscaled_advantage_is_the_centred_reward():
    assert group_advantages([1.0, 3.0, 10.0, 0.0], 2, scale=False) == [-1.0, 1.0, 5.0, -5.0]


def test_advantages_sum_to_zero_per_group_and_have_unit_sample_std():
    rewards = [0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.2, 0.8]
    adv = group_advantages(rewards, 4, eps=0.0)
    for g in (adv[:4], adv[4:]):
        assert sum(g) == pytest.approx(0.0, abs=1e-12)
        assert group_std(g) == pytest.approx(1.0)


def test_uneven_group_sizes():
    adv = group_advantages([1.0, 0.0, 5.0], [2, 1])
    assert adv[2] == 0.0 and adv[0] == pytest.approx(-adv[1])


def test_groups_must_tile_the_rewards():
    with pytest.raises(ValueError):
        group_advantages([1.0, 2.0, 3.0], 2)
    with pytest.raises(ValueError):
        group_advantages([1.0, 2.0], [1, 2])
    with pytest.raises(ValueError):
        group_advantages([1.0], 0)


def test_zero_std_fraction():
    assert zero_std_fraction([1, 1, 0, 1, 2, 2], 2) == pytest.approx(2 / 3)
    assert zero_std_fraction([0.5, 0.5], 2) == 1.0
    assert math.isnan(zero_std_fraction([], 2))
    assert group_std([3.0]) == 0.0
