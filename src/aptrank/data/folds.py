"""Seeded k-fold splits of query ids, for training where a dataset has no training split.

Each query is held out in exactly one fold; a model that scores it is trained on the other folds
only ("k-fold out-of-fold"). The split depends only on the set of ids and the seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from aptrank.errors import AptrankError


def kfolds(
    query_ids: Iterable[str], k: int = 5, seed: int = 0
) -> list[tuple[list[str], list[str]]]:
    """``[(training ids, held-out ids), ...]`` for ``k`` folds, both lists sorted.

    >>> folds = kfolds([f"q{i}" for i in range(7)], k=3)
    >>> [len(held) for _, held in folds], sorted(q for _, held in folds for q in held)[:3]
    ([3, 2, 2], ['q0', 'q1', 'q2'])
    >>> all(not set(train) & set(held) for train, held in folds)
    True
    """
    ids = sorted(set(query_ids))
    if k < 2:
        raise AptrankError(f"k-fold needs k >= 2, got {k}")
    if len(ids) < k:
        raise AptrankError(f"{len(ids)} queries cannot make {k} folds")
    order = ids[:]
    random.Random(seed).shuffle(order)
    held = [sorted(order[i::k]) for i in range(k)]
    return [(sorted(set(ids) - set(h)), h) for h in held]
