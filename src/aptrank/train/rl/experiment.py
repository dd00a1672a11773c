"""RL experiments end to end: train a rewriter or a summarizer and measure what it changed.

:func:`rewrite_experiment` (Rec-R1) and :func:`summarize_experiment` (ReLSum) are what
``aptrank rl rewrite|summarize``, the ``rl-rewrite``/``rl-summarize`` steps of ``aptrank run``
and ``benchmarks/rl.py`` call. Each one:

1. carves a fixed, seeded held-out slice from the training queries that have a relevant
   judgment (:func:`~aptrank.data.dev_slice`; its ids are saved in the result) — the policy never
   trains on it;
2. measures the *retrieval part* of the reward (not format or length) on the held-out slice with
   the untrained policy, trains with GRPO on the other training queries, and measures it again
   with the trained policy, greedy decoding both times;
3. scores the evaluation split once per configuration (NDCG@10, Recall@100): BM25 on the original
   queries, on zero-shot and RL rewrites (replace and append) — or BM25 on the index without
   summaries, with zero-shot and with RL summaries (replace and append);
4. returns (and writes to ``out``) one JSON-ready dict with the config, the reward curve (every
   step's total reward, retrieval part, KL and completion length), the mean reward of the first
   and last tenth of steps, the held-out figures and the evaluation table.

The trained rewriter is a ranker, so it is also written as a trained-ranker artifact
(:mod:`aptrank.rankers.artifact`), ``<out>/models/rewriter/``: the policy folder and an
``aptrank.json`` whose pipeline (:func:`rewriter_pipeline`) uses it as it was measured, e.g.
``rewrite[model=.,mode=replace,max_new_tokens=48]>>bm25`` (the result's ``models``). The
summarizer is not: no pipeline stage uses it, so its policy stays in ``<out>/policy/``.

Summaries are written for a fixed random sub-corpus (``summary_docs`` items, seeded; 0 = every
item) by the same policy, from the items alone — never test queries or judgments; the test
queries are evaluated on that sub-corpus, with their judgments restricted to it (a query with no
relevant item in it is not scored), and "without summaries" is the same sub-corpus unchanged.
Summaries and rewrites are cached (:func:`~aptrank.train.rl.summarize.summarize_corpus`'s JSONL
files, the rewrite stage's SQLite cache), so a rerun generates nothing it already has; a
finished policy is reused.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.experiment import ProgressFactory, write_json
from aptrank.rankers.prompts import MODES
from aptrank.train.rl.grpo import GRPOTrainConfig
from aptrank.train.rl.rewards import RewardConfig
from aptrank.train.rl.summarize import SummaryConfig
from aptrank.train.rl.summary_reward import SummaryRewardConfig

logger = logging.getLogger(__name__)

TASKS = ("rewrite", "summarize")
EVAL_METRICS = ("ndcg@10", "recall@100")


@dataclass(frozen=True)
class RLExperimentConfig:
    """One RL experiment (saved as ``config`` in its result)."""

    dataset: str
    task: str = "rewrite"  #: rewrite (Rec-R1) or summarize (ReLSum)
    retriever: str = "bm25"  #: the black-box retriever inside the reward and at evaluation
    heldout_size: int = 100  #: training queries held out to measure before/after on
    #: training queries the policy trains on (seeded sample of the rest; 0: all of them)
    train_queries: int = 0
    seed: int = 0  #: held-out slice, training-query sample, sub-corpus
    train_split: str = "train"
    eval_split: str = "test"
    #: evaluate on another dataset's ``eval_split`` (a rewriter trained on queries generated from
    #: one corpus, tested on another task); None: the training dataset
    eval_dataset: str | None = None
    #: how the policy trains (None: the task's CPU configuration, GRPOTrainConfig.for_task)
    grpo: GRPOTrainConfig = None  # type: ignore[assignment]
    reward: RewardConfig = field(default_factory=RewardConfig)  #: rewrite task
    summary_reward: SummaryRewardConfig = field(default_factory=SummaryRewardConfig)
    summary_docs: int = 1000  #: summarize task: items of the evaluated sub-corpus (0: all)
    max_text_words: int = 100  #: summarize task: item words the policy reads
    #: summarize task: a frozen reranker (a cross-encoder: name or folder) whose sigmoid score of
    #: (training query, title + summary) is the retrieval reward, continuous as in ReLSum; None:
    #: the retriever's rank of the item
    summary_scorer: str | None = None
    summary_scorer_max_length: int = 256  #: tokens per pair for ``summary_scorer``
    zero_shot: bool = True  #: also evaluate the untrained policy's rewrites / summaries
    batch_size: int = 8  #: generation batch at evaluation

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise AptrankError(f"unknown RL task {self.task!r}; choose one of {', '.join(TASKS)}")
        if self.grpo is None:
            object.__setattr__(self, "grpo", GRPOTrainConfig.for_task(self.task))
        if self.heldout_size < 1 or self.train_queries < 0 or self.summary_docs < 0:
            raise AptrankError("heldout_size must be >= 1, train_queries and summary_docs >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reward_curve(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One point per optimizer step from a GRPO step log: ``reward`` (the total), ``retrieval``
    (its retrieval part), ``kl``, ``length`` (mean completion tokens) and ``reward_std``.

    >>> reward_curve([{"step": 1, "reward": 0.5, "components/retrieval/mean": 0.4, "kl": 0.0,
    ...                "completions/mean_length": 12.0, "reward_std": 0.1}])
    [{'step': 1, 'reward': 0.5, 'retrieval': 0.4, 'kl': 0.0, 'length': 12.0, 'reward_std': 0.1}]
    """
    keys = {
        "reward": "reward",
        "retrieval": "components/retrieval/mean",
        "kl": "kl",
        "length": "completions/mean_length",
        "reward_std": "reward_std",
    }
    return [
        {"step": int(row["step"]), **{k: row.get(v) for k, v in keys.items()}}
        for row in rows
        if "reward" in row
    ]


def tenths(values: Sequence[float]) -> dict[str, float | None]:
    """Mean of the first and the last tenth (at least one value each) of a curve.

    >>> tenths([0.0] * 5 + [1.0] * 5)
    {'first_tenth': 0.0, 'last_tenth': 1.0, 'n': 1}
    """
    if not values:
        return {"first_tenth": None, "last_tenth": None, "n": 0}
    n = max(1, len(values) // 10)
    return {
        "first_tenth": math.fsum(values[:n]) / n,
        "last_tenth": math.fsum(values[-n:]) / n,
        "n": n,
    }


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def _split_queries(config: RLExperimentConfig, train: Any) -> tuple[list[str], list[str]]:
    """(training ids, held-out ids) among the training queries with a relevant judgment."""
    from aptrank.data import dev_slice

    judged = [q for q, j in train.qrels.items() if q in train.queries and any(j.values())]
    if len(judged) <= config.heldout_size:
        raise AptrankError(
            f"{train.name} has {len(judged)} judged training queries; heldout_size "
            f"{config.heldout_size} leaves none to train on"
        )
    fit, heldout = dev_slice(judged, config.heldout_size, config.seed)
    if config.train_queries and config.train_queries < len(fit):
        fit = sorted(random.Random(config.seed).sample(fit, config.train_queries))
    return fit, heldout


@dataclass
class _Setup:
    """What both experiments start from."""

    config: RLExperimentConfig
    out: Path
    train: Any  #: the training split (corpus, queries, judgments)
    test: Any  #: the evaluation split
    fit: list[str]  #: training queries the policy trains on
    heldout: list[str]  #: held-out training queries (before/after)
    texts: dict[str, str]  #: every query's text
    result: dict[str, Any]  #: the result so far (task, config, dataset, query counts)


def _setup(config: RLExperimentConfig, task: str, out: str | Path) -> _Setup:
    from aptrank.data import load_dataset

    config = replace(config, task=task) if config.task != task else config
    train = load_dataset(config.dataset, config.train_split)
    test = load_dataset(config.eval_dataset or config.dataset, config.eval_split)
    fit, heldout = _split_queries(config, train)
    result = {
        "task": task,
        "config": config.to_dict(),
        "dataset": train.name,
        "queries": {"train": len(fit), "heldout": len(heldout), "heldout_ids": heldout},
    }
    texts = {q: train.queries[q].text for q in train.queries}
    return _Setup(config, Path(out), train, test, fit, heldout, texts, result)


def _policies(config: RLExperimentConfig, trained: Any) -> dict[str, str]:
    """The policies evaluated on the test split: the untrained one (when asked) and the RL one."""
    initial = {"zero-shot": config.grpo.policy} if config.zero_shot else {}
    return {**initial, "rl": trained.out_dir}


def _evaluate(qrels: Any, run: Any, per_query: dict[str, Any] | None = None) -> dict[str, float]:
    """Means of EVAL_METRICS (4 decimals) and the query count; ``per_query`` receives each
    query's NDCG@10 (for the paired tests of the headline)."""
    from aptrank.evaluate.metrics import evaluate

    ev = evaluate(qrels, run, EVAL_METRICS)
    if per_query is not None:
        per_query.update(ev.per_query["ndcg@10"])
    return {m: round(v, 4) for m, v in ev.means.items()} | {"queries": ev.n_queries}


def headline(
    table: Mapping[str, Mapping[str, float]],
    per_query: Mapping[str, Mapping[str, float]],
    rows: Mapping[str, str | None],
    dataset: str,
    setting: str,
) -> dict[str, Any]:
    """The block a script reads: NDCG@10 of each named row (``rows``: headline key → table row,
    ``rl`` among them) and the paired t-test of RL against the strongest other row.

    >>> t = {"a": {"ndcg@10": 0.5}, "b": {"ndcg@10": 0.7}, "c": {"ndcg@10": 0.6}}
    >>> pq = {"a": {"q1": 0.4, "q2": 0.6}, "b": {"q1": 0.6, "q2": 0.8}, "c": {"q1": 0.5, "q2": 0.7}}
    >>> h = headline(t, pq, {"baseline": "a", "rl": "b", "rule": "c", "zero_shot": None}, "d", "s")
    >>> h["rl"], h["strongest_other"], h["zero_shot"]
    (0.7, 'rule', None)
    """
    from aptrank.evaluate.significance import paired_test

    out: dict[str, Any] = {"dataset": dataset, "setting": setting, "metric": "ndcg@10"}
    out.update({k: (table[r]["ndcg@10"] if r else None) for k, r in rows.items()})
    others = {k: r for k, r in rows.items() if r and k != "rl"}
    rl = rows.get("rl")
    if rl and others:
        best = max(others, key=lambda k: table[others[k]]["ndcg@10"])
        test = paired_test(per_query[rl], per_query[others[best]])
        out.update(strongest_other=best, p_value=test.p_value, mean_delta=test.mean_delta)
    return out


def untrained_item_rewards(
    policy: str,
    prompts: Mapping[str, Any],
    reward: Any,
    grpo: GRPOTrainConfig,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, float]:
    """Per item, the untrained policy's mean retrieval reward over ``grpo.num_generations``
    completions sampled at the training temperature and length: what a training step of the
    untrained policy would have scored on that item (``prompts``: item id → chat messages;
    ``reward``: the training reward, its ``score_texts``)."""
    from aptrank.rankers.generation import chat_prompt_ids, generate
    from aptrank.rankers.llm import load_causal_lm

    lm, tok, _ = load_causal_lm(policy)
    n = grpo.num_generations
    ids = sorted(prompts)
    per_batch = max(1, batch_size // n)
    out: dict[str, float] = {}
    for start in range(0, len(ids), per_batch):
        chunk = ids[start : start + per_batch]
        repeated = [i for i in chunk for _ in range(n)]
        texts = generate(
            lm,
            tok,
            chat_prompt_ids(tok, [prompts[i] for i in repeated]),
            grpo.max_completion_length,
            temperature=grpo.temperature,
            seed=grpo.seed + start,
        )
        values = reward.score_texts(repeated, texts)["retrieval"]
        for k, item in enumerate(chunk):
            out[item] = _mean(values[k * n : (k + 1) * n])
        if progress is not None:
            progress(min(start + per_batch, len(ids)), len(ids))
    return out


def _paired(
    config: RLExperimentConfig,
    out: Path,
    trained: Any,
    prompts: Mapping[str, Any],
    reward: Any,
    bar: Callable[[str], Any],
) -> dict[str, Any]:
    """The paired learning curve of a trained policy (its item log against the untrained
    policy's sampled rewards on the same items, cached in ``out``)."""
    from aptrank.train.rl.step_log import ITEM_LOG, load_step_log, paired_curve, rises

    items = load_step_log(Path(trained.out_dir) / ITEM_LOG)
    if not items:
        return {"curve": [], "rises": rises([]), "note": "no item log (a policy from before it)"}
    seen = sorted({i for row in items for i in row["ids"]})
    cache = out / f"untrained-items-{config.task}.json"
    settings = {"policy": config.grpo.policy, "grpo": config.grpo.to_dict(), "items": seen}
    cached = json.loads(cache.read_text()) if cache.exists() else {}
    if cached.get("settings") == settings:
        untrained = cached["rewards"]
    else:
        untrained = untrained_item_rewards(
            config.grpo.policy,
            {i: prompts[i] for i in seen},
            reward,
            config.grpo,
            config.batch_size,
            bar("untrained policy on the trained items"),
        )
        write_json(cache, {"settings": settings, "rewards": untrained})
    curve = paired_curve(items, untrained)
    return {"items": len(seen), "curve": curve, "rises": rises(curve)}


def _finish(
    config: RLExperimentConfig, out: Path, result: dict[str, Any], trained: Any
) -> dict[str, Any]:
    from aptrank.train.rl.step_log import load_step_log

    steps = load_step_log(Path(trained.out_dir) / "grpo_steps.jsonl")
    curve = reward_curve(steps)
    result["reward_curve"] = curve
    result["curve_tenths"] = {
        "reward": tenths([p["reward"] for p in curve if p["reward"] is not None]),
        "retrieval": tenths([p["retrieval"] for p in curve if p["retrieval"] is not None]),
    }
    logged = [float(r["step_time"]) for r in steps if r.get("step_time") is not None]
    result["training"] = {
        "policy": trained.out_dir,
        "steps": trained.global_step,
        "wall_s": trained.wall_s,
        "s_per_step": trained.s_per_step,
        #: the mean time of the logged steps, as they ran (also when this call reused the policy)
        "logged_s_per_step": round(_mean(logged), 2) if logged else None,
        "reused": trained.reused,
        "resumed_from": trained.resumed_from,
    }
    h = result["heldout"]
    h["rises"] = h["after"]["retrieval"] > h["before"]["retrieval"]
    write_json(out / f"rl-{config.task}.json", result)
    return result


# ---------------------------------------------------------------------------------------------
# Query rewriting (Rec-R1)


def rewrite_rewards(
    policy: str,
    retriever: Any,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    ids: Sequence[str],
    reward: RewardConfig,
    max_new_tokens: int,
    batch_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[float]]:
    """Each reward component of ``policy``'s greedy rewrite of each query in ``ids`` (in
    order), scored exactly as in training (:class:`~aptrank.train.rl.rewards.RetrievalReward`)."""
    from aptrank.rankers.rewrite import RewriteConfig, RewriteRanker
    from aptrank.train.rl.rewards import RetrievalReward

    stage = RewriteRanker(
        RewriteConfig(model=policy, max_new_tokens=max_new_tokens, batch_size=batch_size),
        progress=progress,
    )
    answers = stage.answers([queries[q] for q in ids])
    return RetrievalReward(retriever, queries, qrels, reward).score_texts(list(ids), answers)


def measure_rewrites(*args: Any, **kwargs: Any) -> dict[str, float]:
    """The means over ``ids`` of :func:`rewrite_rewards` (same arguments)."""
    return {name: round(_mean(v), 4) for name, v in rewrite_rewards(*args, **kwargs).items()}


def rewrite_experiment(
    config: RLExperimentConfig,
    out: str | Path,
    progress: ProgressFactory | None = None,
    models_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train a query rewriter for ``config.retriever`` and measure it (module docstring); the
    trained rewriter is written to ``models_dir/rewriter/`` (default ``out/models/``)."""
    from aptrank.rankers import build_ranker
    from aptrank.rankers.rewrite import RewriteConfig, RewriteRanker
    from aptrank.train.rl.rewrite_task import train_rewriter

    st = _setup(config, "rewrite", out)
    config, out, train, test, heldout, texts = (
        st.config, st.out, st.train, st.test, st.heldout, st.texts
    )  # fmt: skip
    retriever = build_ranker(config.retriever).index(train.corpus)
    max_new = config.grpo.max_completion_length
    bar = _bar_factory(progress)

    def heldout_reward(policy: str, what: str) -> dict[str, float]:
        return measure_rewrites(
            policy, retriever, texts, train.qrels, heldout, config.reward, max_new,
            config.batch_size, bar(f"held-out rewrites ({what})"),
        )  # fmt: skip

    from aptrank.train.rl.rewards import metric_fn

    metric, depth = metric_fn(config.reward.metric, config.reward.rel_level)
    original = retriever.rank({q: texts[q] for q in heldout}, depth)
    result = st.result
    result["heldout"] = {
        "metric": config.reward.metric,
        "mode": config.reward.mode,
        "original_queries": round(
            _mean([metric(original.get(q, {}), train.qrels[q]) for q in heldout]), 4
        ),
        "before": heldout_reward(config.grpo.policy, "untrained"),
    }
    write_json(out / "rl-rewrite.json", result)
    sub = _subset(train, st.fit)
    trained = train_rewriter(
        out / "policy", sub, ranker=retriever, config=config.grpo, reward=config.reward,
        progress=progress is not None,
    )  # fmt: skip
    result["heldout"]["after"] = heldout_reward(trained.out_dir, "trained")

    from aptrank.constraints.parse import delete_exclusion, parse_query

    # another evaluated dataset is another corpus: its own index
    same = config.eval_dataset in (None, config.dataset)
    ranker = retriever if same else build_ranker(config.retriever).index(test.corpus)
    test_texts = {q: test.queries[q].text for q in test.qrels if q in test.queries}
    per_query: dict[str, dict[str, float]] = {}

    def row(name: str, texts: Mapping[str, str]) -> dict[str, float]:
        return _evaluate(test.qrels, ranker.rank(dict(texts), 1000), per_query.setdefault(name, {}))

    base_row = f"{config.retriever} original"
    table: dict[str, dict[str, float]] = {base_row: row(base_row, test_texts)}
    with_exclusion = [q for q, t in test_texts.items() if parse_query(t).exclusions]
    rule = None
    if with_exclusion:  # the constraint parser's rule: the exclusion clause deleted
        rule = f"{config.retriever} rule: exclusion deleted"
        table[rule] = row(rule, {q: delete_exclusion(t) for q, t in test_texts.items()})
        table[rule]["queries_changed"] = len(with_exclusion)
    for name, policy in _policies(config, trained).items():
        for mode in MODES:
            stage = RewriteRanker(
                RewriteConfig(
                    model=policy, mode=mode, max_new_tokens=max_new, batch_size=config.batch_size
                ),
                progress=bar(f"{config.eval_split} rewrites ({name})"),
            )
            label = f"{config.retriever} {name} rewrites ({mode})"
            table[label] = row(label, stage.rewrite(test_texts)) | {"fallbacks": stage.fallbacks}
    mode = config.reward.mode
    zero_shot = f"{config.retriever} zero-shot rewrites ({mode})"
    result["eval"] = {
        "dataset": test.name,
        "split": config.eval_split,
        "metrics": list(EVAL_METRICS),
        "table": table,
        "per_query_ndcg@10": per_query,
    }
    result["headline"] = headline(
        table,
        per_query,
        {
            "baseline": base_row,
            "zero_shot": zero_shot if zero_shot in table else None,
            "rule": rule,
            "rl": f"{config.retriever} rl rewrites ({mode})",
        },
        test.name,
        f"{config.retriever} on {test.name} {config.eval_split}, rewriter trained on "
        f"{train.name} ({mode})",
    )
    from aptrank.train.rl.rewards import RetrievalReward
    from aptrank.train.rl.rewrite_task import rewrite_rows

    prompts = {r["query_id"]: r["prompt"] for r in rewrite_rows(texts, train.qrels, st.fit)}
    rewarder = RetrievalReward(retriever, texts, train.qrels, config.reward)
    result["paired_curve"] = _paired(config, out, trained, prompts, rewarder, bar)
    folder = write_rewriter(st, trained, result, Path(models_dir or out / "models"))
    result["models"] = {"rewriter": str(folder)}
    return _finish(config, out, result, trained)


def rewriter_pipeline(config: RLExperimentConfig, model: str = ".") -> str:
    """The pipeline that uses a trained rewriter (``model``) as the experiment measured it: the
    mode it was rewarded in, its completion length, then the retriever (a folder made absolute).

    >>> rewriter_pipeline(RLExperimentConfig(dataset="x"))
    'rewrite[model=.,mode=replace,max_new_tokens=48]>>bm25'
    """
    from aptrank.rankers.rewrite import RewriteConfig

    options = f"model={model},mode={config.reward.mode}"
    options += f",max_new_tokens={config.grpo.max_completion_length}"
    if config.batch_size != RewriteConfig.batch_size:  # padding can, rarely, flip a token
        options += f",batch_size={config.batch_size}"
    retriever = config.retriever
    if Path(retriever).is_dir():
        retriever = str(Path(retriever).resolve())
    return f"rewrite[{options}]>>{retriever}"


def write_rewriter(st: _Setup, trained: Any, result: Mapping[str, Any], models_dir: Path) -> Path:
    """Copy the trained policy into ``models_dir/rewriter/`` with its ``aptrank.json`` (the
    pipeline, training and held-out queries, held-out and test figures) and model card."""
    from aptrank.rankers.artifact import copy_model, dataset_record, figure, write_artifact

    config, train = st.config, st.train
    mode, h = config.reward.mode, result["heldout"]
    target = copy_model(trained.out_dir, models_dir / "rewriter")
    split = f"{config.train_split} (held-out slice)"
    reward = f"the retrieval part of the reward ({config.retriever}, {mode}), greedy rewrites"

    def heldout(when: str, policy: str) -> dict[str, Any]:
        value = {h["metric"]: h[when]["retrieval"]}
        return figure(value, split, len(st.heldout), True, policy=policy, measured_as=reward)

    row = result["eval"]["table"][f"{config.retriever} rl rewrites ({mode})"]
    write_artifact(
        target,
        name=target.name,
        kind="policy",
        pipeline=rewriter_pipeline(config),
        description=(
            f"A query rewriter ({mode} mode) for {config.retriever}: {config.grpo.policy} trained "
            f"with GRPO ({trained.global_step} optimizer steps) on {train.name}, rewarded by the "
            f"retriever's {h['metric']} on {len(st.fit)} training queries."
        ),
        dataset=dataset_record(train),
        trained_on={
            "split": config.train_split,
            "queries": list(st.fit),
            "heldout_queries": list(st.heldout),  # measured on, never trained on
        },
        base_model=config.grpo.policy,
        config=config.to_dict(),
        seed=config.seed,
        figures={
            "heldout_before": heldout("before", "untrained (the base model)"),
            "heldout_after": heldout("after", "trained"),
            "test": figure(
                {m: row[m] for m in EVAL_METRICS},
                config.eval_split,
                row["queries"],
                True,
                measured_as=f"{config.retriever} on the rewritten queries",
            ),
        },
    )
    return target


def _subset(dataset: Any, query_ids: Sequence[str]) -> Any:
    """The dataset with only ``query_ids``' queries and judgments (what the policy trains on)."""
    from aptrank.types import Dataset

    keep = set(query_ids)
    return Dataset(
        name=dataset.name,
        corpus=dataset.corpus,
        queries={q: v for q, v in dataset.queries.items() if q in keep},
        qrels={q: v for q, v in dataset.qrels.items() if q in keep},
        split=dataset.split,
        path=dataset.path,
    )


def _bar_factory(progress: ProgressFactory | None) -> Callable[[str], Any]:
    return lambda description: progress(description) if progress is not None else None


# ---------------------------------------------------------------------------------------------
# Item summaries (ReLSum)


def summary_path(policy: str, config: SummaryConfig) -> Path:
    """Where the summaries of ``policy`` under ``config`` are cached (one JSONL per policy)."""
    from aptrank.paths import cache_dir
    from aptrank.rankers.cache import key, model_fingerprint
    from aptrank.rankers.llm import resolve_llm

    fingerprint = model_fingerprint(resolve_llm(policy))
    return cache_dir("summaries") / f"{key(fingerprint, asdict(config))}.jsonl"


def summarize_experiment(
    config: RLExperimentConfig, out: str | Path, progress: ProgressFactory | None = None
) -> dict[str, Any]:
    """Train an item summarizer and measure it (module docstring). The summarizer is not a
    ranker (no pipeline stage uses it), so no artifact is written: its policy is ``out/policy``."""
    from aptrank.rankers import build_ranker
    from aptrank.train.rl.summarize import summarize_corpus, summarized_corpus, train_summarizer
    from aptrank.train.rl.summary_reward import SummaryReward

    st = _setup(config, "summarize", out)
    config, out, train, test, fit, heldout, texts = (
        st.config, st.out, st.train, st.test, st.fit, st.heldout, st.texts
    )  # fmt: skip
    corpus = train.corpus
    fit_qrels = {q: train.qrels[q] for q in fit}
    held_qrels = {q: train.qrels[q] for q in heldout}
    trained_items = {d for j in fit_qrels.values() for d, g in j.items() if g > 0}
    # held-out items: relevant to a held-out query and never a training row (unseen queries and
    # unseen items)
    held_items = sorted(
        {d for j in held_qrels.values() for d, g in j.items() if g > 0 and d in corpus}
        - trained_items
    )
    if not held_items:
        raise AptrankError("no held-out item outside the training items to measure on")
    rcfg = config.summary_reward
    scfg = SummaryConfig(
        max_new_tokens=config.grpo.max_completion_length,
        max_text_words=config.max_text_words,
        max_words=rcfg.max_words,
        batch_size=config.batch_size,
    )
    bar = _bar_factory(progress)
    pair_scorer = None
    if config.summary_scorer:
        from aptrank.rankers.encoders import load_pair_scorer

        pair_scorer = load_pair_scorer(
            config.summary_scorer, "torch", config.summary_scorer_max_length
        )
    heldout_reward = SummaryReward(corpus, texts, held_qrels, rcfg, pair_scorer=pair_scorer)

    def summaries(policy: str, ids: Sequence[str], what: str) -> dict[str, str]:
        job = summarize_corpus(
            corpus, ids, policy, scfg, summary_path(policy, scfg), bar(f"summaries ({what})")
        )
        return job.summaries

    def measure(policy: str, what: str) -> dict[str, float]:
        got = summaries(policy, held_items, f"held-out, {what}")
        parts = heldout_reward.score_texts(held_items, [got.get(d, "") for d in held_items])
        return {name: round(_mean(v), 4) for name, v in parts.items()}

    unchanged = [heldout_reward.text_retrieval(d, corpus[d].full_text) for d in held_items]
    result = st.result
    result["heldout"] = {
        # the frozen scorer replaces the rank metric in the reward (summary_reward docstring)
        "metric": f"sigmoid({config.summary_scorer})" if pair_scorer is not None else rcfg.metric,
        "mode": rcfg.mode,
        "items": len(held_items),
        "unchanged_items": round(_mean(unchanged), 4),
        "before": measure(config.grpo.policy, "untrained"),
    }
    write_json(out / "rl-summarize.json", result)
    trained = train_summarizer(
        out / "policy", corpus, fit_qrels, texts, config=config.grpo, reward=rcfg,
        max_text_words=config.max_text_words, progress=progress is not None,
        meta={"dataset": train.name, "query_ids": fit}, pair_scorer=pair_scorer,
    )  # fmt: skip
    result["heldout"]["after"] = measure(trained.out_dir, "trained")
    from aptrank.train.rl.summarize import summary_rows

    prompts = {
        r["doc_id"]: r["prompt"] for r in summary_rows(corpus, fit_qrels, config.max_text_words)
    }
    train_reward = SummaryReward(corpus, texts, fit_qrels, rcfg, pair_scorer=pair_scorer)
    result["paired_curve"] = _paired(config, out, trained, prompts, train_reward, bar)

    ids = sorted(corpus)
    if config.summary_docs and config.summary_docs < len(ids):
        ids = sorted(random.Random(config.seed).sample(ids, config.summary_docs))
    sub = {d: corpus[d] for d in ids}
    keep = set(ids)
    qrels = {q: {d: g for d, g in j.items() if d in keep} for q, j in test.qrels.items()}
    qrels = {q: j for q, j in qrels.items() if any(g > 0 for g in j.values())}
    if not qrels:
        raise AptrankError(
            f"no {config.eval_split} query has a relevant item among the {len(ids)} sampled items"
        )
    test_texts = {q: test.queries[q].text for q in qrels if q in test.queries}

    per_query: dict[str, dict[str, float]] = {}

    def score(index: Mapping[str, Any], name: str) -> dict[str, float]:
        ranker = build_ranker(config.retriever).index(dict(index))
        return _evaluate(qrels, ranker.rank(test_texts, 1000), per_query.setdefault(name, {}))

    table = {"without summaries": score(sub, "without summaries")}
    written: dict[str, int] = {}
    got_by: dict[str, dict[str, str]] = {}
    for name, policy in _policies(config, trained).items():
        got = got_by[name] = summaries(policy, ids, f"sub-corpus, {name}")
        written[name] = len(got)
        for mode in MODES:
            label = f"{name} summaries ({mode})"
            table[label] = score(summarized_corpus(sub, got, mode), label)
    # ReLSum's setting: the ranker indexes the title alone, and a summary is added to it; the
    # extractive control is each item's lead cut to its RL summary's length (the full text,
    # "without summaries" above, is the upper reference)
    title_only, extractive = "title only", "title + lead (the RL summary's length)"
    titled = any(sub[d].title.strip() for d in ids)  # without titles the setting does not exist
    if titled:
        empty = dict.fromkeys(ids, "")
        table[title_only] = score(summarized_corpus(sub, empty, "replace"), title_only)
        lengths = {d: len(got_by["rl"].get(d, "").split()) or rcfg.max_words for d in ids}
        lead = {d: " ".join(sub[d].text.split()[: lengths[d]]) for d in ids}
        table[extractive] = score(summarized_corpus(sub, lead, "replace"), extractive)
    result["headline"] = headline(
        table,
        per_query,
        {
            "baseline": title_only if titled else None,
            "extractive": extractive if titled else None,
            "zero_shot": "zero-shot summaries (replace)" if config.zero_shot else None,
            "rl": "rl summaries (replace)",
        },
        test.name,
        f"{config.retriever} indexing title + summary on a {len(ids)}-item sub-corpus "
        f"(seed {config.seed}); the full text: {table['without summaries']['ndcg@10']}",
    )
    result["headline"]["full_text"] = table["without summaries"]["ndcg@10"]
    result["eval"] = {
        "split": config.eval_split,
        "metrics": list(EVAL_METRICS),
        "sub_corpus": {
            "items": len(ids),
            "of": len(corpus),
            "seed": config.seed,
            "queries_scored": len(test_texts),
            "summarized": written,
        },
        "table": table,
        "per_query_ndcg@10": per_query,
    }
    return _finish(config, out, result, trained)


def run_experiment(
    config: RLExperimentConfig,
    out: str | Path,
    progress: ProgressFactory | None = None,
    models_dir: str | Path | None = None,
) -> dict[str, Any]:
    """:func:`rewrite_experiment` or :func:`summarize_experiment`, by ``config.task``;
    ``models_dir`` (default ``out/models``) receives the trained rewriter."""
    if config.task == "rewrite":
        return rewrite_experiment(config, out, progress, models_dir)
    return summarize_experiment(config, out, progress)
