"""The group-relative advantage of GRPO (Shao et al. 2024, DeepSeekMath, eq. 3 with outcome
rewards): each completion's reward minus the mean of its group (the completions sampled for the
same prompt), divided by the group's standard deviation plus ``eps``.

TRL's ``GRPOTrainer`` computes this itself (``scale_rewards="group"``: Bessel-corrected std,
``eps = 1e-4``); these functions restate it so it is tested on its own and so the logs can say
how much signal a batch carries. A group whose rewards are all equal has advantage 0 for every
completion: it contributes no policy gradient, only the KL term. When most groups look like
that, training has stalled or collapsed.

Pure Python on purpose: groups are a handful of numbers, and ``import aptrank.train.rl`` must
not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: TRL's epsilon in the denominator.
EPS = 1e-4


def _groups(rewards: Sequence[float], sizes: int | Sequence[int]) -> list[list[float]]:
    """``rewards`` cut into consecutive groups: ``sizes`` is one group size or a list of them."""
    values = [float(r) for r in rewards]
    if isinstance(sizes, int):
        if sizes < 1 or len(values) % sizes:
            raise ValueError(f"{len(values)} rewards do not split into groups of {sizes}")
        sizes = [sizes] * (len(values) // sizes)
    if any(s < 1 for s in sizes) or sum(sizes) != len(values):
        raise ValueError(f"group sizes {list(sizes)} do not add up to {len(values)} rewards")
    out, start = [], 0
    for s in sizes:
        out.append(values[start : start + s])
        start += s
    return out


def group_std(group: Sequence[float]) -> float:
    """Sample standard deviation (Bessel-corrected, as TRL's ``nanstd``); 0.0 for one value.

    >>> group_std([1.0, 3.0])
    1.4142135623730951
    """
    n = len(group)
    if n < 2:
        return 0.0
    mean = math.fsum(group) / n
    return math.sqrt(math.fsum((x - mean) ** 2 for x in group) / (n - 1))


def group_advantages(
    rewards: Sequence[float], group_size: int | Sequence[int], eps: float = EPS, scale: bool = True
) -> list[float]:
    """``(r - mean(group)) / (std(group) + eps)`` for each reward, groups being consecutive
    runs of ``group_size`` rewards (TRL orders completions that way). ``scale=False`` leaves out
    the division (Dr. GRPO, TRL's ``scale_rewards="none"``).

    >>> group_advantages([1.0, 0.0, 0.5, 0.5], 2)
    [0.70700..., -0.70700..., 0.0, 0.0]
    """
    out: list[float] = []
    for group in _groups(rewards, group_size):
        mean = math.fsum(group) / len(group)
        denom = group_std(group) + eps if scale else 1.0
        out.extend((r - mean) / denom for r in group)
    return out


def zero_std_fraction(
    rewards: Sequence[float], group_size: int | Sequence[int], tol: float = 1e-8
) -> float:
    """The share of groups whose rewards are all equal (no gradient from them); NaN for none.

    >>> zero_std_fraction([1.0, 1.0, 0.0, 1.0], 2)
    0.5
    """
    groups = _groups(rewards, group_size)
    if not groups:
        return math.nan
    return sum(group_std(g) <= tol for g in groups) / len(groups)
