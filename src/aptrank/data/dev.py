"""A fixed, seeded dev slice carved from the training queries.

Every choice a training method makes (checkpoints, prompts, ensemble weights, curve points) is
made on this slice, never on the test split; the slice's query ids are saved with each result so
the choice can be audited and repeated.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from aptrank.errors import AptrankError


def dev_slice(query_ids: Iterable[str], size: int | float, seed: int = 0) -> tuple[list, list]:
    """``(rest, dev)``: ``size`` query ids (a count, or a fraction when below 1) drawn with
    ``seed`` from the sorted ids, and the others; both sorted.

    The draw depends only on the set of ids and the seed, not on their order.

    >>> rest, dev = dev_slice(["q3", "q1", "q2", "q4"], 2, seed=0)
    >>> sorted(rest + dev) == ["q1", "q2", "q3", "q4"], len(dev)
    (True, 2)
    >>> dev == dev_slice(["q4", "q2", "q1", "q3"], 2, seed=0)[1]
    True
    """
    ids = sorted(set(query_ids))
    n = round(size * len(ids)) if isinstance(size, float) and size < 1 else int(size)
    if not 0 < n < len(ids):
        raise AptrankError(f"a dev slice of {size} leaves no training queries out of {len(ids)}")
    dev = set(random.Random(seed).sample(ids, n))
    return [q for q in ids if q not in dev], sorted(dev)
