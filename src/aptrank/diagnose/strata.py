"""Strata: a metric (NDCG@10 by default) over groups of queries, with bootstrap CIs.

Each grouping maps a query to one or more group labels; the groupings built here:

* ``query_length``: words per query, quantile bins;
* ``clarity``: mean IDF of the query's words over the corpus (``idf = ln(1 + (N - df + 0.5) /
  (df + 0.5))``, words lowercased, stopwords and words absent from the corpus left out), quantile
  bins: low clarity means an unspecific query made of common words;
* ``near_ties`` (per ranker): the spread of the top-10 scores over the spread of the whole top-k,
  quantile bins: a low share means the top is a near-tie;
* ``constraint_type``: exclusion, negation, direction (the constraint parser,
  :mod:`aptrank.constraints.parse`), number/comparative (a regex), or none; a query can be in
  several groups;
* ``seen_in_training``: whether a query has a relevant item that was also relevant to a training
  query ("seen") or not ("unseen"), wherever a model was trained on the dataset's judgments: a
  gain on seen queries may be a learned prior over *which items* are relevant, not a better
  reading of the query (on SciFact 196 of the 300 test queries are seen);
* ``doc:<field>``: a document metadata field, read on each query's relevant documents (numbers
  averaged and binned into quantiles, e.g. years into eras; categories by their most common
  value); ``query:<field>``: a query metadata field, binned the same way.

Queries without a relevant item are not evaluated, so they are in no group.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aptrank.constraints.parse import KINDS, parse_query
from aptrank.diagnose.stats import Interval, bootstrap_mean, quantile_bins
from aptrank.types import Qrels, Run

MAX_GROUPS = 12
MISSING = "(missing)"

_WORD = re.compile(r"[a-z0-9]+(?:['’-][a-z0-9]+)*")
_NUMERIC = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|"
    r"percent|half|twice|double|more|less|fewer|greater|higher|lower|larger|smaller|at least|"
    r"at most|\w+er than)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Grouping:
    """Queries mapped to group labels; ``order`` lists the labels in display order."""

    name: str
    description: str
    labels: dict[str, tuple[str, ...]]
    order: list[str]


@dataclass(frozen=True)
class Group:
    label: str
    mean: Interval  #: the metric's mean over the group's queries, with a CI

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "n": self.mean.n, **self.mean.to_dict()}


@dataclass(frozen=True)
class Stratum:
    name: str
    description: str
    groups: list[Group]

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "groups": [g.to_dict() for g in self.groups]}


@dataclass(frozen=True)
class Strata:
    metric: str
    n_queries: int
    overall: Interval  #: the metric's mean over every evaluated query
    strata: dict[str, Stratum]
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "n_queries": self.n_queries,
            "overall": self.overall.to_dict(),
            "strata": {name: s.to_dict() for name, s in self.strata.items()},
            "skipped": self.skipped,
        }


def strata(
    metric: str,
    values: Mapping[str, float],
    groupings: Iterable[Grouping],
    resamples: int = 1000,
    seed: int = 0,
) -> Strata:
    """``metric``'s per-query ``values`` summarised over each grouping's groups."""
    out: dict[str, Stratum] = {}
    skipped: dict[str, str] = {}
    for g in groupings:
        members: dict[str, list[float]] = {label: [] for label in g.order}
        for qid, value in values.items():
            for label in g.labels.get(qid, ()):
                members.setdefault(label, []).append(value)
        groups = [
            Group(label, bootstrap_mean(vals, resamples, seed))
            for label, vals in members.items()
            if vals
        ]
        if len(groups) < 2:
            skipped[g.name] = "every evaluated query falls in one group"
            continue
        out[g.name] = Stratum(g.name, g.description, groups)
    overall = bootstrap_mean(list(values.values()), resamples, seed)
    return Strata(metric, len(values), overall, out, skipped)


def binned(
    name: str, description: str, values: Mapping[str, float], unit: str = "", ordinal: bool = False
) -> Grouping:
    """A grouping of quartile bins of ``values``, labels in increasing order. Labels name the
    value range, or with ``ordinal`` the quartile (``Q1 (0.2–0.59)``... becomes ``Q1``), so that
    rankers whose values differ share labels; the ranges then go to the description."""
    labels = quantile_bins(values, 4, unit)
    low: dict[str, float] = {}
    for qid, label in labels.items():
        low[label] = min(low.get(label, math.inf), values[qid])
    order = sorted(low, key=low.__getitem__)
    if ordinal:
        rename = {label: f"Q{i}" for i, label in enumerate(order, start=1)}
        description += "; " + ", ".join(f"{rename[lab]} {lab}" for lab in order)
        labels = {q: rename[lab] for q, lab in labels.items()}
        order = [rename[lab] for lab in order]
    return Grouping(name, description, {q: (lab,) for q, lab in labels.items()}, order)


def query_length(queries: Mapping[str, str]) -> Grouping:
    lengths = {q: float(len(t.split())) for q, t in queries.items()}
    return binned("query_length", "words per query (quartile bins)", lengths, "words")


def idf_table(texts: Iterable[str], stopwords: Iterable[str] = ()) -> dict[str, float]:
    """BM25's IDF of every word of ``texts`` (lowercased, ``stopwords`` left out)."""
    stop = set(stopwords)
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        n += 1
        df.update(set(_WORD.findall(text.lower())) - stop)
    return {w: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for w, d in df.items()}


def clarity(queries: Mapping[str, str], idf: Mapping[str, float]) -> Grouping:
    """Quartile bins of the mean IDF of each query's words found in the corpus."""
    values = {}
    for qid, text in queries.items():
        known = [idf[w] for w in _WORD.findall(text.lower()) if w in idf]
        if known:
            values[qid] = sum(known) / len(known)
    return binned(
        "clarity", "mean IDF of the query's words (quartile bins; low = unspecific)", values, "idf"
    )


def near_ties(run: Run, top: int = 10) -> Grouping:
    """Quartile bins of (score 1 - score ``top``) / (score 1 - last score of the run)."""
    values = {}
    for qid, scores in run.items():
        s = sorted(scores.values(), reverse=True)
        if len(s) > top and s[0] > s[-1]:
            values[qid] = (s[0] - s[top - 1]) / (s[0] - s[-1])
    desc = f"top-{top} score spread over the top-k spread, this ranker's quartiles (Q1: near-ties)"
    return binned("near_ties", desc, values, ordinal=True)


def seen_in_training(qrels: Qrels, train_qrels: Qrels) -> Grouping:
    """ "seen": the query has a relevant item that is relevant to some training query; else
    "unseen" (only queries with a relevant item are grouped).

    >>> g = seen_in_training({"a": {"d1": 1}, "b": {"d2": 1, "d3": 0}}, {"t": {"d1": 2, "d3": 1}})
    >>> g.labels
    {'a': ('seen',), 'b': ('unseen',)}
    """
    trained = {d for docs in train_qrels.values() for d, g in docs.items() if g > 0}
    labels: dict[str, tuple[str, ...]] = {}
    for qid, docs in qrels.items():
        relevant = {d for d, g in docs.items() if g > 0}
        if relevant:
            labels[qid] = ("seen",) if relevant & trained else ("unseen",)
    return Grouping(
        "seen_in_training",
        "queries with an item that was relevant to a training query (seen) and the rest",
        labels,
        ["seen", "unseen"],
    )


def unseen_queries(qrels: Qrels, train_qrels: Qrels) -> list[str]:
    """The queries none of whose relevant items was relevant to a training query (sorted)."""
    labels = seen_in_training(qrels, train_qrels).labels
    return sorted(q for q, lab in labels.items() if lab == ("unseen",))


def constraint_types(queries: Mapping[str, str]) -> Grouping:
    """The constraint parser's kinds (exclusion, negation, direction) and number/comparative by
    regex; a query can be in several groups."""
    labels = {}
    for qid, text in queries.items():
        found = parse_query(text).kinds()
        found += ("number/comparative",) if _NUMERIC.search(text) else ()
        labels[qid] = found or ("none",)
    return Grouping(
        "constraint_type",
        "constraints found by the constraint parser's rules, and numbers/comparatives "
        "(a query can be in several groups)",
        labels,
        [*KINDS, "number/comparative", "none"],
    )


def field_grouping(name: str, description: str, values: Mapping[str, list[Any]]) -> Grouping:
    """Group queries by values of a metadata field: numbers (all values numeric) averaged and
    binned into quartiles, categories by their most common value (then the first in sort order);
    at most :data:`MAX_GROUPS` categories, the rarest merged as ``other``."""
    present = {q: [v for v in vs if v not in (None, "")] for q, vs in values.items()}
    flat = [v for vs in present.values() for v in vs]
    if flat and all(_number(v) is not None for v in flat):
        nums = {q: sum(_number(v) or 0.0 for v in vs) / len(vs) for q, vs in present.items() if vs}
        grouping = binned(name, description + " (quartile bins)", nums)
        labels = dict(grouping.labels)
        labels.update({q: (MISSING,) for q, vs in present.items() if not vs})
        return Grouping(name, grouping.description, labels, [*grouping.order, MISSING])
    chosen = {
        q: (
            sorted(Counter(map(str, vs)).items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            if vs
            else MISSING
        )
        for q, vs in present.items()
    }
    ranked_labels = [label for label, _ in Counter(chosen.values()).most_common()]
    keep = (
        set(ranked_labels[: MAX_GROUPS - 1])
        if len(ranked_labels) > MAX_GROUPS
        else set(ranked_labels)
    )
    labels = {q: (c if c in keep else "other",) for q, c in chosen.items()}
    order = [label for label in ranked_labels if label in keep] + (
        ["other"] if len(keep) < len(ranked_labels) else []
    )
    return Grouping(name, description, labels, order)


def doc_field(field_name: str, qrels: Qrels, doc_meta: Mapping[str, Mapping[str, Any]]) -> Grouping:
    """Queries grouped by ``field_name`` of their relevant documents."""
    values = {
        q: [doc_meta.get(d, {}).get(field_name) for d, g in judged.items() if g > 0]
        for q, judged in qrels.items()
    }
    desc = f"document field {field_name!r} of each query's relevant documents"
    return field_grouping(f"doc:{field_name}", desc, values)


def query_field(field_name: str, query_meta: Mapping[str, Mapping[str, Any]]) -> Grouping:
    values = {q: [meta.get(field_name)] for q, meta in query_meta.items()}
    return field_grouping(f"query:{field_name}", f"query field {field_name!r}", values)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
