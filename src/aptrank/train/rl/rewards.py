"""Rewards for RL against the ranking metric: what a black-box retriever achieves with a text.

Small callables, each documented and tested: per-query retrieval metrics (:func:`ndcg_at_k`,
:func:`recall_at_k`, :func:`mrr_at_k`), a :func:`format_reward`, a :func:`length_penalty`, and a
fixed :data:`PARSE_FAILURE_REWARD`. :class:`RetrievalReward` combines them into a reward function
with TRL's ``GRPOTrainer`` signature (Rec-R1: the retriever is a black box, the reward is its
metric on the rewritten query).

The metrics follow :mod:`aptrank.evaluate.metrics` exactly (trec_eval semantics, ties broken by
doc id descending) but are computed here directly for one query: a reward loop scores thousands
of single-query runs, and building a pytrec_eval evaluator per call costs far more than the
metric itself. ``tests/train/rl/test_rewards.py`` checks that they equal
:func:`aptrank.evaluate.evaluate` on random runs.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aptrank.evaluate.metrics import parse_metric
from aptrank.rankers.prompts import MODES, apply_rewrite, completion_text, parse_line
from aptrank.train.rl.advantage import zero_std_fraction
from aptrank.train.rl.step_log import log_items

#: The whole reward of a completion nothing usable could be read from (see
#: :func:`~aptrank.rankers.prompts.parse_line`). Below every reward a parsed answer can get
#: (retrieval and format rewards are >= 0) as long as the length penalty is bounded, so the policy
#: always prefers writing *something* parseable.
PARSE_FAILURE_REWARD = -1.0

#: The components :class:`RetrievalReward` records for every completion.
COMPONENTS = ("retrieval", "format", "length", "parse_failed", "total")


def _top(scores: Mapping[str, float], k: int) -> list[str]:
    """The top ``k`` doc ids in trec_eval's order (score, then doc id, descending) — the order
    of :func:`aptrank.data.runs.ranked`, without sorting the whole list."""
    return [d for d, _ in heapq.nlargest(k, scores.items(), key=lambda item: (item[1], item[0]))]


def ndcg_at_k(run: Mapping[str, float], judged: Mapping[str, float], k: int) -> float:
    """trec_eval's ``ndcg_cut_k`` for one query: gain = grade (grades <= 0 gain nothing),
    discount ``log2(rank + 1)``, ideal ranking from all judgments. 0.0 when nothing is judged
    relevant (trec_eval leaves such a query out of its mean; a reward has to be a number).

    >>> ndcg_at_k({"a": 2.0, "b": 1.0}, {"b": 1}, 10)  # the relevant doc at rank 2
    0.6309297535714575
    >>> ndcg_at_k({"a": 1.0, "b": 1.0}, {"b": 1}, 10)  # tie: doc id descending puts b first
    1.0
    """
    _check_k(k)
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        return 0.0
    dcg = 0.0
    for i, doc in enumerate(_top(run, k)):
        gain = judged.get(doc, 0)
        if gain > 0:
            dcg += gain / math.log2(i + 2)
    return dcg / idcg


def recall_at_k(
    run: Mapping[str, float], judged: Mapping[str, float], k: int, rel_level: float = 1
) -> float:
    """trec_eval's ``recall_k`` for one query: relevant documents (grade >= ``rel_level``) in the
    top ``k`` over all relevant documents; 0.0 when none is relevant.

    >>> recall_at_k({"a": 3.0, "b": 2.0, "c": 1.0}, {"a": 1, "c": 2, "d": 1, "b": 0}, 2)
    0.3333333333333333
    """
    _check_k(k)
    relevant = {d for d, g in judged.items() if g >= rel_level}
    if not relevant:
        return 0.0
    return sum(d in relevant for d in _top(run, k)) / len(relevant)


def mrr_at_k(
    run: Mapping[str, float], judged: Mapping[str, float], k: int, rel_level: float = 1
) -> float:
    """trec_eval's ``recip_rank`` on the run cut at ``k``: 1 / rank of the first relevant
    document (grade >= ``rel_level``) in the top ``k``, else 0.0.

    >>> mrr_at_k({"a": 3.0, "b": 2.0, "c": 1.0}, {"c": 1}, 10)
    0.3333333333333333
    >>> mrr_at_k({"a": 3.0, "b": 2.0, "c": 1.0}, {"c": 1}, 2)
    0.0
    """
    _check_k(k)
    for i, doc in enumerate(_top(run, k)):
        if judged.get(doc, 0) >= rel_level:
            return 1.0 / (i + 1)
    return 0.0


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"cutoff k must be >= 1, got {k}")


MetricFn = Callable[[Mapping[str, float], Mapping[str, float]], float]


def metric_fn(name: str, rel_level: float = 1) -> tuple[MetricFn, int]:
    """The per-query function ``fn(run, judged)`` of metric ``name`` (``ndcg@k``, ``recall@k``,
    ``mrr@k``; ``rel_level`` for the last two) and the depth the run needs (``k``).

    >>> fn, depth = metric_fn("mrr@10")
    >>> fn({"a": 1.0, "b": 2.0}, {"a": 1}), depth
    (0.5, 10)
    """
    metric = parse_metric(name)
    k = metric.k
    if k is None or metric.family not in ("ndcg", "recall", "mrr"):
        raise ValueError(f"reward metric must be ndcg@k, recall@k or mrr@k, got {name!r}")
    if metric.family == "ndcg":
        return (lambda run, judged: ndcg_at_k(run, judged, k)), k
    fn = recall_at_k if metric.family == "recall" else mrr_at_k
    return (lambda run, judged: fn(run, judged, k, rel_level)), k


def format_reward(text: str, max_words: int = 32) -> float:
    """1.0 when ``text`` is already a clean one-line answer — a single non-empty line, no label
    or quotes to strip, at most ``max_words`` words — else 0.0. A small bonus that teaches the
    policy the answer format the parser otherwise has to repair.

    >>> format_reward("cat sleep duration")
    1.0
    >>> format_reward("Rewritten query: cat sleep"), format_reward("cat\\nsleep"), format_reward("")
    (0.0, 0.0, 0.0)
    """
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        return 0.0
    parsed = parse_line(lines[0])
    clean = parsed is not None and parsed == " ".join(lines[0].split())
    return 1.0 if clean and len(parsed.split()) <= max_words else 0.0  # type: ignore[union-attr]


def length_penalty(length: int, target: int, per_unit: float = 0.01) -> float:
    """A linear penalty, ``-per_unit`` for every unit (word or token) beyond ``target``; 0 up to
    it. Keeps rewrites from growing to the generation cap, where a truncated answer both costs
    generation time and dilutes the query.

    >>> length_penalty(10, 12), length_penalty(20, 12, 0.05)
    (0.0, -0.4)
    """
    if target < 0 or per_unit < 0:
        raise ValueError(f"target and per_unit must be >= 0, got {target}, {per_unit}")
    excess = length - target
    return -per_unit * excess if excess > 0 else 0.0


@dataclass(frozen=True)
class RewardConfig:
    """How :class:`RetrievalReward` scores a completion; saved with every trained policy.

    ``total = retrieval + format_weight * format + length``; a failed parse gets
    ``failure_reward`` instead. The retrieval part dominates by design: format and length only
    shape answers the retriever scores alike.
    """

    metric: str = "ndcg@10"  #: ndcg@k, recall@k or mrr@k of the retriever's ranking
    mode: str = "replace"  #: replace the query with the rewrite, or append the rewrite to it
    format_weight: float = 0.1  #: weight of :func:`format_reward`
    max_words: int = 32  #: longest answer the format reward accepts
    length_target: int = 24  #: words allowed before the length penalty starts
    length_per_word: float = 0.01  #: penalty per word beyond ``length_target``
    failure_reward: float = PARSE_FAILURE_REWARD  #: the reward of a failed parse
    rel_level: float = 1  #: lowest relevant grade (recall, mrr); 0.5 for teacher probabilities

    def __post_init__(self) -> None:
        metric_fn(self.metric)
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        for name in ("format_weight", "length_per_word"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_words < 1 or self.length_target < 0:
            raise ValueError("max_words must be >= 1 and length_target >= 0")


def log_components(
    log_metric: Any, parts: Mapping[str, Sequence[float]], group_ids: Sequence[str]
) -> None:
    """Log each reward component's mean and std, and the share of groups (completions of one
    prompt, which share an id) whose retrieval reward does not vary: they give no gradient.
    ``log_metric`` is the hook TRL passes to reward functions (nothing is logged without it)."""
    if not callable(log_metric):
        return
    for name, values in parts.items():
        log_metric(f"components/{name}/mean", _mean(values))
        log_metric(f"components/{name}/std", _std(values))
    log_metric(
        "components/retrieval/zero_std_groups",
        zero_std_fraction(list(parts["retrieval"]), _group_sizes(list(group_ids))),
    )


class RetrievalReward:
    """A TRL reward function: the retriever's metric for the policy's rewrite of each query.

    Called as ``reward(prompts, completions, query_id=[...], **kwargs) -> list[float]``, the
    signature ``GRPOTrainer`` uses (dataset columns such as ``query_id`` arrive as keyword lists,
    one entry per completion). Each completion is parsed (:func:`parse_line`), combined with its
    original query (``mode``), retrieved with ``ranker`` (any indexed aptrank ranker, e.g.
    ``build_ranker("bm25").index(corpus)``) and scored against ``qrels`` (judgments or teacher
    labels). Every call records each component per completion in :attr:`last` and, under TRL,
    logs their mean and std through the trainer's ``log_metric`` hook (``components/<name>/mean``
    and ``/std`` in the step log), plus the share of groups whose retrieval reward does not vary.
    """

    #: where each call's items and retrieval rewards go (set by ``train_grpo``: the item log)
    item_log: Path | None = None

    def __init__(
        self,
        ranker: Any,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, float]],
        config: RewardConfig | None = None,
        name: str = "retrieval",
    ) -> None:
        self.ranker = ranker
        self.queries = dict(queries)
        self.qrels = {q: dict(j) for q, j in qrels.items()}
        self.cfg = config or RewardConfig()
        self.__name__ = name  # TRL names the reward (and its log keys) after this
        self._metric, self.depth = metric_fn(self.cfg.metric, self.cfg.rel_level)
        self._cache: dict[tuple[str, str], float] = {}
        self.last: dict[str, list[float]] = {c: [] for c in COMPONENTS}

    def config(self) -> dict[str, Any]:
        """Everything that decides the reward (saved with the policy; part of its run key)."""
        ranker = self.ranker.config() if hasattr(self.ranker, "config") else repr(self.ranker)
        return {"name": self.__name__, "ranker": ranker, **asdict(self.cfg)}

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float]:
        query_ids = kwargs.get("query_id")
        if query_ids is None or len(query_ids) != len(completions):
            raise ValueError(
                "RetrievalReward needs a 'query_id' column with one id per completion "
                "(a dataset column; TRL passes columns to reward functions by name)"
            )
        texts = [completion_text(c) for c in completions]
        parts = self.score_texts([str(q) for q in query_ids], texts)
        self.last = parts
        log_components(kwargs.get("log_metric"), parts, [str(q) for q in query_ids])
        log_items(self.item_log, kwargs.get("trainer_state"), query_ids, parts["retrieval"])
        return parts["total"]

    def score_texts(self, query_ids: Sequence[str], texts: Sequence[str]) -> dict[str, list[float]]:
        """The components of each (query id, generated text) pair: ``retrieval``, ``format``,
        ``length``, ``parse_failed`` (0/1) and ``total`` (the reward). Usable outside training,
        e.g. to measure the retrieval part on held-out queries before and after."""
        unknown = sorted({q for q in query_ids if q not in self.queries or q not in self.qrels})
        if unknown:
            raise ValueError(f"queries without text or judgments: {unknown[:5]}")
        parsed = [parse_line(t) for t in texts]
        sent = [
            apply_rewrite(self.queries[q], p, self.cfg.mode) if p is not None else None
            for q, p in zip(query_ids, parsed)
        ]
        retrieval = self._retrieve([(q, s) for q, s in zip(query_ids, sent) if s is not None])
        out: dict[str, list[float]] = {c: [] for c in COMPONENTS}
        for q, text, p, s in zip(query_ids, texts, parsed, sent):
            failed = p is None
            r = 0.0 if s is None else retrieval[(q, s)]
            fmt = format_reward(text, self.cfg.max_words)
            length = length_penalty(
                len(p.split()) if p else 0, self.cfg.length_target, self.cfg.length_per_word
            )
            total = self.cfg.failure_reward if failed else r + self.cfg.format_weight * fmt + length
            for name, value in zip(COMPONENTS, (r, fmt, length, float(failed), total)):
                out[name].append(float(value))
        return out

    def _retrieve(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
        """The metric of every distinct (query id, text); one ranker call for the new ones."""
        todo = sorted({p for p in pairs if p not in self._cache})
        if todo:
            run = self.ranker.rank({str(i): text for i, (_, text) in enumerate(todo)}, self.depth)
            if len(self._cache) > 100_000:  # a bound, not an LRU: rewrites rarely repeat that often
                self._cache.clear()
            for i, (qid, text) in enumerate(todo):
                self._cache[(qid, text)] = self._metric(run.get(str(i), {}), self.qrels[qid])
        return {p: self._cache[p] for p in pairs}


def _group_sizes(ids: Sequence[str]) -> list[int]:
    """Lengths of the runs of equal consecutive ids: TRL's sampler puts the generations of one
    prompt next to each other, so these are the GRPO groups (for logging only)."""
    sizes: list[int] = []
    for i, q in enumerate(ids):
        if i and q == ids[i - 1]:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sizes


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _std(values: Sequence[float]) -> float:
    """Population std (the spread of this batch, not an estimate)."""
    if not values:
        return math.nan
    m = _mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / len(values))
