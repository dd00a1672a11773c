"""Alignment where a dataset has no training split: k folds over its judged queries.

Each query is scored only by models trained without it: the fold's fine-tuned encoder and query
adapter, trained on the other folds' queries, and fusion weights fitted on the other folds'
out-of-fold scores. Every figure is therefore a **k-fold out-of-fold** estimate, and says so.
The ranker a user keeps (``models/aligned``) is refitted on all judged queries with the same
recipe, members in the same roles, its fusion weights fitted on the out-of-fold scores; its
``aptrank.json`` carries the out-of-fold estimate as its figure, and the run never scores the
refitted model on the queries it was trained on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aptrank.train.align import AlignConfig, ProgressFactory, _judged, _rel
from aptrank.types import Dataset, Qrels, Run

KFOLD = "k-fold out-of-fold"


def _members(
    config: AlignConfig,
    ds: Dataset,
    query_ids: Sequence[str],
    folder: Path,
    progress: ProgressFactory | None,
) -> dict[str, str]:
    """Pipelines of the members, the trained ones trained on ``query_ids`` into ``folder``."""
    from aptrank.train.adapter import AdapterConfig, train_adapter, write_adapter
    from aptrank.train.finetune import FinetuneConfig, finetune

    specs = {"bm25": "bm25", "pretrained": f"dense:{config.base}"}
    split = config.eval_split
    if config.finetune:
        ft = FinetuneConfig(
            dataset=config.dataset,
            base=config.base,
            split=split,
            dev_size=config.dev_size,
            seed=config.seed,
            eval_split=None,
            **config.finetune_options,
        )
        finetune(ft, folder / "finetuned", progress, evaluate=False, query_ids=list(query_ids))
        specs["finetuned"] = f"dense:{folder / 'finetuned'}"
    if config.adapter:
        ac = AdapterConfig(
            model=config.base,
            split=split,
            dev_size=config.dev_size,
            seed=config.seed,
            **config.adapter_options,
        )
        adapter, report = train_adapter(ds, ac, query_ids=list(query_ids))
        write_adapter(folder / "adapter", adapter, report, ds)
        specs["adapter"] = str(folder / "adapter")
    return specs


def _plans(labels: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The fusions: BM25 with each encoder, and with every trained one together."""
    plans: dict[str, tuple[str, ...]] = {f"fused-{m}": ("bm25", m) for m in labels if m != "bm25"}
    trained = [m for m in labels if m in ("finetuned", "adapter")]
    if len(trained) > 1:
        plans["fused-all"] = ("bm25", *trained)
    return plans


def _fold_fusions(
    oof: Mapping[str, Run],
    plans: Mapping[str, tuple[str, ...]],
    folds: Sequence[tuple[list[str], list[str]]],
    qrels: Qrels,
    config: AlignConfig,
) -> dict[str, Run]:
    """Each fusion's out-of-fold run: a fold's queries scored with weights (and a method)
    chosen and fitted on the other folds' out-of-fold member scores."""
    from aptrank.rankers.fuse import feature_table, fuse_runs
    from aptrank.train.fusion import METHODS, FitFusionConfig, choose_method, fit_weights

    fit_config = FitFusionConfig(config.dataset, ("bm25", "x"), seed=config.seed)
    out: dict[str, Run] = {}
    for name, members in plans.items():
        runs = [oof[m] for m in members]
        table = feature_table(runs)
        fused: Run = {}
        for train_ids, held in folds:
            method, _, _ = choose_method(METHODS, runs, table, qrels, train_ids, fit_config)
            w = fit_weights(method, {q: table[q] for q in train_ids}, qrels)
            fused.update(fuse_runs([{q: r.get(q, {}) for q in held} for r in runs], list(w)))
        out[name] = fused
    return out


def align_kfold(
    config: AlignConfig,
    models_dir: str | Path,
    progress: ProgressFactory | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Out-of-fold candidates, the best of them refitted on all judged queries as
    ``models/aligned`` (see the module docstring)."""
    from aptrank.data import load_dataset
    from aptrank.data.folds import kfolds
    from aptrank.data.runs import write_trec_run
    from aptrank.errors import AptrankError
    from aptrank.evaluate.metrics import evaluate
    from aptrank.rankers import build_ranker
    from aptrank.train.align import too_few_queries

    start = time.perf_counter()
    models_dir = Path(models_dir).resolve()
    ds = load_dataset(config.dataset, config.eval_split)
    reason = too_few_queries(replace(config, train_split=config.eval_split), ds)
    if reason:
        raise AptrankError(reason)
    judged = _judged(ds)
    folds = kfolds(judged, config.folds, config.seed)
    seconds: dict[str, float] = {}
    oof: dict[str, Run] = {}
    for i, (train_ids, held) in enumerate(folds, start=1):
        t = time.perf_counter()
        specs = _members(config, ds, train_ids, models_dir / "folds" / f"fold-{i}", progress)
        queries = {q: ds.queries[q].text for q in held}
        for label, spec in specs.items():
            run = build_ranker(spec).index(ds.corpus).rank(queries, 1000)
            oof.setdefault(label, {}).update(run)
        seconds[f"fold-{i}"] = round(time.perf_counter() - t, 1)
        say(f"  fold {i}/{len(folds)}: trained on {len(train_ids)}, scored {len(held)} queries")
    plans = _plans(list(oof))
    candidates = {k: v for k, v in oof.items()}
    candidates.update(_fold_fusions(oof, plans, folds, ds.qrels, config))
    qrels = {q: ds.qrels[q] for q in judged}
    figures: dict[str, dict[str, Any]] = {}
    runs_dir = models_dir.parent / "align-runs"
    for name, run in candidates.items():
        ev = evaluate(qrels, run, ["ndcg@10", "recall@100"])
        figures[name] = {"pipeline": KFOLD, **ev.means, **_pair_accuracy(ds.qrels, run)}
        write_trec_run(run, runs_dir / f"{name}.trec", tag=f"{name}:{KFOLD}")
    aligned = [k for k in figures if k not in ("bm25", "pretrained", "fused-pretrained")]
    if not aligned:
        raise AptrankError("nothing to align: enable finetune or adapter")
    best = max(aligned, key=lambda k: figures[k]["ndcg@10"])
    say(f"  {KFOLD} NDCG@10: " + ", ".join(f"{k} {v['ndcg@10']:.4f}" for k, v in figures.items()))

    t = time.perf_counter()
    refit = _members(config, ds, judged, models_dir, progress)
    folder = _write_refit(config, best, plans, oof, refit, figures[best], models_dir, ds, judged)
    seconds["refit"] = round(time.perf_counter() - t, 1)
    seconds["total"] = round(time.perf_counter() - start, 1)
    return {
        "config": config.to_dict(),
        "mode": KFOLD,
        "folds": config.folds,
        "dev_queries": [],
        "dev_ndcg@10": {},
        "dev_unseen": {"queries": 0, "ndcg@10": {}},
        "selected": {
            "candidate": best,
            "by": f"{KFOLD} NDCG@10 over all {len(judged)} judged queries",
            "guard": "no unseen guard: the folds share no training split",
        },
        "aligned": str(folder),
        "test": figures,
        "unseen": {"queries": 0, "ndcg@10": {}},
        "seconds": seconds,
        #: refitted on the evaluation split's own queries: never ranked on them by the run
        "models": {},
        "artifacts": {"aligned": str(folder)},
    }


def _pair_accuracy(qrels: Qrels, run: Run) -> dict[str, Any]:
    """Constraint-pair accuracy (top-grade item above the judged-wrong one, ties ½) of an
    out-of-fold run, from its own top-1000 scores (pairs with an item outside it are left out);
    empty where the judgments have no such pairs."""
    from aptrank.diagnose.constraints import constraint_pairs

    pairs = constraint_pairs(qrels, run, run, depth=100, resamples=200)
    if pairs is None:
        return {}
    return {"constraint_pair_accuracy": pairs.accuracy.value, "constraint_pairs": pairs.n_pairs}


def _write_refit(
    config: AlignConfig,
    best: str,
    plans: Mapping[str, tuple[str, ...]],
    oof: Mapping[str, Run],
    refit: Mapping[str, str],
    figure_values: Mapping[str, Any],
    models_dir: Path,
    ds: Dataset,
    judged: Sequence[str],
) -> Path:
    """``models/aligned``: the refitted ``best`` (a fusion's weights fitted on all out-of-fold
    member scores), its figure the out-of-fold estimate."""
    from aptrank.rankers.artifact import dataset_record, figure, write_artifact
    from aptrank.rankers.fuse import FuseWeights, Member, feature_table
    from aptrank.train.fusion import METHODS, FitFusionConfig, choose_method, fit_weights

    estimate = figure(
        {m: figure_values[m] for m in ("ndcg@10", "recall@100")},
        config.eval_split,
        len(judged),
        True,
        note=f"{KFOLD} estimate ({config.folds} folds); the kept model is refitted on all of "
        "these queries and is never scored on them",
    )
    if best in plans:
        members = plans[best]
        runs = [oof[m] for m in members]
        table = feature_table(runs)
        fit_config = FitFusionConfig(config.dataset, ("bm25", "x"), seed=config.seed)
        method, dev, _ = choose_method(METHODS, runs, table, ds.qrels, judged, fit_config)
        w = fit_weights(method, table, ds.qrels)
        specs = tuple(_rel(refit[m], models_dir) for m in members)
        from aptrank.rankers import build_ranker

        kinds = [build_ranker(refit[m]).kind for m in members]
        folder = models_dir / best
        FuseWeights(
            tuple(Member(k, s) for k, s in zip(kinds, specs)),
            tuple(float(x) for x in w),
            judgments={"dataset": ds.name, "split": config.eval_split, "queries": list(judged)},
            fit={"method": method, "dev_ndcg@10": dev, "fitted_on": f"{KFOLD} member scores"},
        ).save(folder / "weights.json")
        inner = f"fuse({','.join(specs)})[weights=./weights.json]"
        write_artifact(
            folder,
            name=best,
            kind="fusion",
            pipeline=inner,
            description=f"BM25 fused with refitted encoders; weights fitted on {KFOLD} scores.",
            dataset=dataset_record(ds),
            trained_on={"split": config.eval_split, "queries": list(judged), "folds": config.folds},
            figures={config.eval_split: estimate},
        )
        pipeline = f"../{best}"
    else:
        pipeline = _rel(refit[best], models_dir).replace("dense:../", "../", 1)
    target = models_dir / "aligned"
    write_artifact(
        target,
        name="aligned",
        kind="aligned",
        pipeline=pipeline,
        description=f"The aligned ranker of this run: {best}, chosen by its {KFOLD} figure and "
        f"refitted on all {len(judged)} judged queries of {ds.name}.",
        dataset=dataset_record(ds),
        trained_on={"split": config.eval_split, "queries": list(judged), "folds": config.folds},
        base_model=config.base,
        config=config.to_dict(),
        seed=config.seed,
        figures={config.eval_split: estimate},
        extra={"candidate": best, "mode": KFOLD},
    )
    return target
