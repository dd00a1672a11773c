"""The dev slice: fixed by the seed, disjoint, order-independent."""

from __future__ import annotations

import pytest

from aptrank.data import dev_slice
from aptrank.errors import AptrankError


def test_dev_slice_is_a_seeded_disjoint_partition():
    ids = [f"q{i}" for i in range(50)]
    rest, dev = dev_slice(ids, 10, seed=3)
    assert len(dev) == 10 and len(rest) == 40
    assert not set(rest) & set(dev) and set(rest) | set(dev) == set(ids)
    assert dev == dev_slice(reversed(ids), 10, seed=3)[1]
    assert dev != dev_slice(ids, 10, seed=4)[1]


def test_dev_slice_fraction_and_duplicates():
    rest, dev = dev_slice(["a", "b", "c", "d", "a"], 0.5)
    assert len(dev) == 2 and len(rest) == 2


@pytest.mark.parametrize("size", [0, 4, 10])
def test_dev_slice_must_leave_training_queries(size):
    with pytest.raises(AptrankError, match="dev slice"):
        dev_slice(["a", "b", "c", "d"], size)
