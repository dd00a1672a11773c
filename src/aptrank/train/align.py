"""Alignment: rankers fitted on the task's own judgments, and the best of them kept as
``models/aligned``.

On a dataset with a training split (one without is aligned by k folds over its judged queries,
:mod:`aptrank.train.align_kfold`):

1. **finetuned**: the base bi-encoder fine-tuned on the training queries outside a seeded dev
   slice (:mod:`aptrank.train.finetune`, a CPU-sized recipe);
2. **adapter**: a query adapter over the base model's frozen document index
   (:mod:`aptrank.train.adapter`; zero documents re-encoded), trained on the same queries;
3. **fusions** of BM25 with those encoders (and with the pretrained one, the comparison the
   unseen-query goal needs), weights fitted by ``fit-fusion`` on the dev slice only: the
   trained members never trained on it, and every fusion is fitted on the same queries.

Every candidate is measured on the dev slice (a fusion by its cross-fitted figure: each dev
query scored by weights fitted on the other half); the best is written as ``models/aligned``, a
folder pipeline naming the others (``../finetuned``), and scored once on the evaluation split.
The figures of every candidate on the evaluation split, over all queries and over the queries
whose relevant items were never relevant in training ("unseen"), are returned for the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError

logger = logging.getLogger(__name__)

ProgressFactory = Callable[[str], Callable[[int, int], None]]


@dataclass(frozen=True)
class AlignConfig:
    """What the align step trains; saved with its results."""

    dataset: str
    train_split: str = "train"
    eval_split: str = "test"
    base: str = "all-MiniLM-L6-v2"
    dev_size: int = 100
    seed: int = 0
    finetune: bool = True
    adapter: bool = True
    folds: int = 5  #: k of the k-fold path (a dataset without a training split)
    #: FinetuneConfig fields of the CPU recipe (epochs, batch size, ...)
    finetune_options: dict[str, Any] = field(default_factory=dict)
    adapter_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rel(pipeline: str, models_dir: Path) -> str:
    """Member pipelines written relative to a sibling artifact folder (``../finetuned``).

    >>> _rel("dense:/run/models/finetuned", Path("/run/models"))
    'dense:../finetuned'
    """
    return pipeline.replace(f"{models_dir.resolve()}/", "../")


def _evaluate(pipelines: Mapping[str, str], dataset: Any, query_ids: Any = None) -> dict:
    """``{label: {metric: mean}}`` of each pipeline on ``dataset``'s judged queries (or some)."""
    from aptrank.evaluate.metrics import evaluate
    from aptrank.rankers import build_ranker

    queries = {q: v.text for q, v in dataset.judged_queries().items()}
    if query_ids is not None:
        queries = {q: t for q, t in queries.items() if q in set(query_ids)}
    qrels = {q: dataset.qrels[q] for q in queries}
    out: dict[str, Any] = {}
    for label, spec in pipelines.items():
        run = build_ranker(spec).index(dataset.corpus).rank(queries, 1000)
        ev = evaluate(qrels, run, ["ndcg@10", "recall@100"])
        out[label] = {"pipeline": spec, **ev.means, "per_query": ev.per_query["ndcg@10"]}
    return out


def align(
    config: AlignConfig,
    models_dir: str | Path,
    progress: ProgressFactory | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train the aligned candidates into ``models_dir``, keep the dev-best as ``aligned``."""
    from aptrank.data import load_dataset
    from aptrank.data.dev import dev_slice
    from aptrank.diagnose.strata import unseen_queries

    start = time.perf_counter()
    models_dir = Path(models_dir).resolve()
    train = load_dataset(config.dataset, config.train_split)
    test = load_dataset(config.dataset, config.eval_split)
    judged = _judged(train)
    reason = too_few_queries(config, train)
    if reason:
        raise AptrankError(reason)
    # the rule finetune and adapt use too (a fifth when there are too few), so the encoder, the
    # adapter and the fusions share one dev slice
    dev_n = config.dev_size if len(judged) > 2 * config.dev_size else max(1, len(judged) // 5)
    fit_ids, dev_ids = dev_slice(judged, dev_n, config.seed)
    seconds: dict[str, float] = {}
    members: dict[str, str] = {"pretrained": f"dense:{config.base}"}
    if config.finetune:
        t = time.perf_counter()
        members["finetuned"] = f"dense:{_train_encoder(config, models_dir, progress, say)}"
        seconds["finetune"] = round(time.perf_counter() - t, 1)
    if config.adapter:
        t = time.perf_counter()
        members["adapter"] = _train_adapter(config, train, models_dir, say)
        seconds["adapter"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    fused = _fit_fusions(config, members, dev_ids, models_dir)
    seconds["fusion"] = round(time.perf_counter() - t, 1)

    singles = {k: v for k, v in members.items() if k != "pretrained"}
    dev = _evaluate(singles, train, dev_ids)
    dev_per_query = {k: v["per_query"] for k, v in dev.items()}
    dev_per_query.update({k: f["per_query"] for k, f in fused.items()})
    dev_unseen_ids = unseen_queries(
        {q: train.qrels[q] for q in dev_ids}, {q: train.qrels[q] for q in fit_ids}
    )
    dev_figures = {k: _mean(v, v) for k, v in dev_per_query.items()}
    dev_unseen = {k: _mean(v, dev_unseen_ids) for k, v in dev_per_query.items()}
    best, guard = _select(dev_figures, dev_unseen)
    say(f"  aligned candidates on the dev slice: {_fmt(dev_figures)}; kept {best} ({guard})")
    chosen = fused[best]["folder"] if best in fused else None
    aligned_dir = _write_aligned(config, best, chosen, members, models_dir, train)

    candidates = {"bm25": "bm25", "pretrained": members["pretrained"]}
    candidates.update(singles)
    candidates.update({k: f["folder"] for k, f in fused.items()})
    candidates["aligned"] = str(aligned_dir)
    t = time.perf_counter()
    on_test = _evaluate(candidates, test)
    seconds["evaluate"] = round(time.perf_counter() - t, 1)
    unseen = unseen_queries(test.qrels, train.qrels)
    unseen_fig = {
        k: sum(v["per_query"].get(q, 0.0) for q in unseen) / max(len(unseen), 1)
        for k, v in on_test.items()
    }
    _record_test_figure(aligned_dir, on_test["aligned"], len(test.qrels), config.eval_split)
    seconds["total"] = round(time.perf_counter() - start, 1)
    return {
        "config": config.to_dict(),
        "dev_queries": dev_ids,
        "fit_queries": len(fit_ids),
        "dev_ndcg@10": dev_figures,
        "dev_unseen": {"queries": len(dev_unseen_ids), "ndcg@10": dev_unseen},
        "selected": {
            "candidate": best,
            "by": "dev ndcg@10 (fusions cross-fitted) among the candidates that match the "
            "pretrained fusion on the dev slice's unseen queries",
            "guard": guard,
        },
        "aligned": str(aligned_dir),
        "test": {
            k: {m: v[m] for m in ("pipeline", "ndcg@10", "recall@100")} for k, v in on_test.items()
        },
        "unseen": {"queries": len(unseen), "ndcg@10": unseen_fig},
        "seconds": seconds,
        "models": {
            **{k: str(models_dir / k) for k in ("finetuned", "adapter") if k in members},
            **{k: f["folder"] for k, f in fused.items()},
            "aligned": str(aligned_dir),
        },
    }


def _judged(dataset: Any) -> list[str]:
    return sorted(
        q for q, d in dataset.qrels.items() if q in dataset.queries and max(d.values()) > 0
    )


def too_few_queries(config: AlignConfig, train: Any = None) -> str | None:
    """Why alignment cannot train on ``config``'s training split (None when it can)."""
    from aptrank.data import load_dataset
    from aptrank.train.finetune import MIN_JUDGED_QUERIES

    train = train if train is not None else load_dataset(config.dataset, config.train_split)
    n = len(_judged(train))
    if n >= MIN_JUDGED_QUERIES:
        return None
    return (
        f"{n} judged {config.train_split} queries with a relevant item; alignment needs at "
        f"least {MIN_JUDGED_QUERIES}"
    )


def _mean(values: Mapping[str, float], ids: Any) -> float:
    picked = [values.get(q, 0.0) for q in ids]
    return sum(picked) / len(picked) if picked else float("nan")


def _select(dev: Mapping[str, float], dev_unseen: Mapping[str, float]) -> tuple[str, str]:
    """The aligned candidate to keep: the best on the dev slice among those at least as good as
    the pretrained fusion on the dev queries whose relevant items no training query shares (a
    gain there is a better reading of the query, not a learned prior over which items are
    relevant); when none is, the dev-best, said so.

    >>> _select({"a": 0.9, "b": 0.8, "fused-pretrained": 0.7}, {"a": 0.6, "b": 0.75,
    ...         "fused-pretrained": 0.7})
    ('b', 'kept: matches the pretrained fusion on unseen dev queries')
    """
    aligned = [k for k in dev if k != "fused-pretrained"]
    if not aligned:
        raise AptrankError("nothing to align: enable finetune or adapter")
    floor = dev_unseen.get("fused-pretrained", float("-inf"))
    eligible = [k for k in aligned if dev_unseen.get(k, float("-inf")) >= floor]
    if eligible:
        return max(eligible, key=lambda k: dev[k]), (
            "kept: matches the pretrained fusion on unseen dev queries"
        )
    best = max(aligned, key=lambda k: dev[k])
    return best, "no candidate matched the pretrained fusion on unseen dev queries: dev-best kept"


def _fmt(figures: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in figures.items())


def _train_encoder(
    config: AlignConfig, models_dir: Path, progress: ProgressFactory | None, say: Callable
) -> Path:
    from aptrank.train.finetune import FinetuneConfig, finetune

    ft = FinetuneConfig(
        dataset=config.dataset,
        base=config.base,
        split=config.train_split,
        dev_size=config.dev_size,
        seed=config.seed,
        eval_split=None,
        **config.finetune_options,
    )
    folder = models_dir / "finetuned"
    finetune(ft, folder, progress, evaluate=False)
    say(f"  fine-tuned {config.base} -> {folder}")
    return folder


def _train_adapter(config: AlignConfig, train: Any, models_dir: Path, say: Callable) -> str:
    from aptrank.train.adapter import AdapterConfig, train_adapter, write_adapter

    ac = AdapterConfig(
        model=config.base,
        split=config.train_split,
        dev_size=config.dev_size,
        seed=config.seed,
        **config.adapter_options,
    )
    adapter, report = train_adapter(train, ac)
    folder = models_dir / "adapter"
    write_adapter(folder, adapter, report, train)
    say(f"  query adapter for {config.base} -> {folder}")
    return str(folder)


def _fit_fusions(
    config: AlignConfig, members: Mapping[str, str], dev_ids: list[str], models_dir: Path
) -> dict[str, dict[str, Any]]:
    """BM25 fused with each encoder (and with all trained ones), fitted on the dev slice."""
    from aptrank.train.fusion import FitFusionConfig, fit_fusion, write_fusion

    plans: dict[str, tuple[str, ...]] = {f"fused-{k}": ("bm25", v) for k, v in members.items()}
    trained = [v for k, v in members.items() if k != "pretrained"]
    if len(trained) > 1:
        plans["fused-all"] = ("bm25", *trained)
    out: dict[str, dict[str, Any]] = {}
    for name, specs in plans.items():
        fc = FitFusionConfig(
            config.dataset,
            tuple(specs),
            split=config.train_split,
            dev_size=max(1, len(dev_ids) // 5),
            seed=config.seed,
            query_ids=tuple(dev_ids),
        )
        weights = fit_fusion(fc)
        rel = tuple(replace(m, pipeline=_rel(m.pipeline, models_dir)) for m in weights.members)
        folder = models_dir / name
        write_fusion(replace(weights, members=rel), folder)
        out[name] = {"folder": str(folder), "per_query": weights.fit["crossfit_per_query"]}
    return out


def _write_aligned(
    config: AlignConfig,
    best: str,
    fusion_folder: str | None,
    members: Mapping[str, str],
    models_dir: Path,
    train: Any,
) -> Path:
    """``models/aligned``: the chosen candidate as a folder pipeline naming its siblings."""
    from aptrank.rankers.artifact import dataset_record, read_record, write_artifact

    target = models_dir / "aligned"
    target.mkdir(parents=True, exist_ok=True)
    if fusion_folder is not None:
        source = read_record(fusion_folder)
        pipeline = f"../{Path(fusion_folder).name}"
        trained_on = source.get("trained_on", {})
    else:
        pipeline = _rel(members[best], models_dir).replace("dense:../", "../", 1)
        if not pipeline.startswith("../"):
            pipeline = members[best]
        trained_on = read_record(models_dir / best).get("trained_on", {})
    write_artifact(
        target,
        name="aligned",
        kind="aligned",
        pipeline=pipeline,
        description=f"The aligned ranker of this run: {best}, the best on the dev slice of "
        f"{config.train_split} among the rankers fitted on {train.name}'s judgments.",
        dataset=dataset_record(train),
        trained_on=trained_on,
        base_model=config.base,
        config=config.to_dict(),
        seed=config.seed,
        extra={"candidate": best},
    )
    return target


def _record_test_figure(folder: Path, metrics: Mapping[str, Any], queries: int, split: str) -> None:
    """Add the evaluation split's figure to ``aptrank.json`` (what a re-evaluation reproduces)."""
    from aptrank.experiment import write_json
    from aptrank.rankers.artifact import RECORD, figure, read_record

    record = read_record(folder)
    values = {m: metrics[m] for m in ("ndcg@10", "recall@100")}
    record.setdefault("figures", {})[split] = figure(values, split, queries, True)
    write_json(folder / RECORD, record)
