"""When ``aptrank run`` adds ``constrain(...)`` beside its baselines: explicit constraints
(exclusions, negations found by the parser's rules) in at least :data:`MIN_SHARE` of the queries.
"""

from __future__ import annotations

from collections.abc import Mapping

from aptrank.constraints.parse import parse_query

MIN_SHARE = 0.10
#: the baselines wrapped (first stages that retrieve; the rule check costs little per query)
WRAPPED = ("bm25", "dense")


def explicit_share(queries: Mapping[str, str]) -> float:
    """The share of queries in which the rules find an exclusion or a negation.

    >>> explicit_share({"a": "cats without lions", "b": "dogs", "c": "birds", "d": "fish"})
    0.25
    """
    if not queries:
        return 0.0
    return sum(parse_query(t).explicit for t in queries.values()) / len(queries)


def constrain_pipelines(
    queries: Mapping[str, str], model: str | None = None, min_share: float = MIN_SHARE
) -> list[str]:
    """The ``constrain(...)`` pipelines to add (none below ``min_share``); with ``model`` (a
    trained compatibility scorer's folder) also ``constrain(bm25)[model=...]``.

    >>> constrain_pipelines({"a": "cats without lions", "b": "dogs"}, model="m")
    ['constrain(bm25)', 'constrain(dense)', 'constrain(bm25)[model=m]']
    >>> constrain_pipelines({"a": "cats", "b": "dogs"})
    []
    """
    if explicit_share(queries) < min_share:
        return []
    specs = [f"constrain({b})" for b in WRAPPED]
    return specs + ([f"constrain(bm25)[model={model}]"] if model else [])
