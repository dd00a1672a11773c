"""The built-in steps of ``aptrank run``, each a function of one :class:`JobContext`,
registered by name with ``@step``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.experiment import EvaluateConfig, evaluate_pipelines, write_json
from aptrank.job import JobContext, RunConfig, StepFunction, evaluate_models, step
from aptrank.teach.workflow import DEFAULT_TEACHER


@step("evaluate", "baselines on the evaluation split")
def _evaluate_step(ctx: JobContext) -> None:
    cfg = ctx.config
    eval_cfg = EvaluateConfig(
        dataset=cfg.dataset,
        split=cfg.split,
        pipelines=tuple(dict.fromkeys([*cfg.pipelines, *_constrain_specs(ctx)])),
        metrics=cfg.metrics,
        depth=cfg.depth,
        seed=cfg.seed,
    )
    experiment = evaluate_pipelines(
        ctx.dataset,
        eval_cfg,
        out=ctx.out,
        progress=ctx.progress,
        on_result=lambda r: ctx.say(f"  {r.pipeline}: ranked in {r.seconds:.1f} s"),
    )
    ctx.result.experiment, ctx.result.comparison = experiment, experiment.comparison


@step("diagnose", "where and why the pretrained rankers fail (diagnosis/)")
def _diagnose_step(ctx: JobContext) -> None:
    """Its own folder: diagnosis.json, diagnosis.md, report.html."""
    specs = [*ctx.config.diagnosed, *_constrain_specs(ctx)]
    _diagnosis(ctx, {spec: spec for spec in dict.fromkeys(specs)})


def _constrain_specs(ctx: JobContext) -> list[str]:
    """constrain(...) pipelines when explicit constraints are in >= 10 % of the queries."""
    from aptrank.constraints.auto import constrain_pipelines

    queries = {q: query.text for q, query in ctx.dataset.judged_queries().items()}
    return constrain_pipelines(queries, ctx.config.constraint_model)


def _diagnosis(ctx: JobContext, specs: dict[str, str], seen_split: str | None = None) -> None:
    """Diagnose ``{name: pipeline}`` side by side into ``diagnosis/`` (replacing what is there)."""
    from aptrank.diagnose import DiagnoseConfig, check_inputs, diagnose
    from aptrank.rankers import build_ranker
    from aptrank.report.diagnosis import write_diagnosis

    cfg, dataset = ctx.config, ctx.dataset
    diag_cfg = DiagnoseConfig(
        dataset=cfg.dataset,
        split=cfg.split,
        rankers=tuple(specs),
        seed=cfg.seed,
        seen_split=seen_split,
    )
    rankers = {name: build_ranker(spec) for name, spec in specs.items()}
    check_inputs(dataset, rankers, diag_cfg)
    diagnosis = diagnose(dataset, rankers, diag_cfg, progress=ctx.progress)
    write_diagnosis(
        diagnosis,
        ctx.out / "diagnosis",
        {"dataset_path": dataset.path, "n_docs": len(dataset.corpus)},
    )
    for name, r in diagnosis.rankers.items():
        ctx.say(f"  diagnosed {name} in {r.seconds['total']:.1f} s")
    ctx.result.diagnosis = diagnosis


@step(
    "align",
    "rankers fitted on the task's judgments (fine-tuned encoder, query adapter, fusions); the "
    "dev-best kept as models/aligned and diagnosed beside the pretrained ones; k-fold "
    "out-of-fold where there is no train split",
)
def _align_step(ctx: JobContext) -> None:
    from aptrank.data import splits
    from aptrank.train.align import AlignConfig, align, too_few_queries

    cfg = ctx.config
    config = AlignConfig(
        dataset=cfg.dataset, eval_split=cfg.split, seed=cfg.seed, **cfg.align_options
    )
    has_train = ctx.dataset.path is not None and config.train_split in splits(ctx.dataset.path)
    if not has_train:
        return _align_kfold(ctx, config)
    reason = too_few_queries(config)
    if reason:
        ctx.result.skipped["align"] = reason
        ctx.say(f"skipping align: {reason}")
        return
    if cfg.teacher is not None and "teacher" not in config.finetune_options:
        # --teacher given: its scores filter the fine-tuning negatives (never a cached label
        # the user did not ask for)
        options = {**config.finetune_options, "teacher": cfg.teacher}
        config = replace(config, finetune_options=options)
        ctx.say(f"  fine-tuning negatives filtered by the teacher {cfg.teacher}")
    result = align(config, ctx.out / "models", ctx.progress, ctx.say)
    ctx.result.align = result
    write_json(ctx.out / "align.json", result)
    for name, folder in result["models"].items():
        ctx.result.models[name] = Path(folder)
    a = result["test"]["aligned"]
    ctx.say(f"  models/aligned ({result['selected']['candidate']}): NDCG@10 {a['ndcg@10']:.4f}")
    if "diagnose" in cfg.steps:  # again, with the aligned ranker and the seen/unseen stratum
        specs = {spec: spec for spec in [*cfg.diagnosed, *_constrain_specs(ctx)]}
        _diagnosis(ctx, {**specs, "models/aligned": result["aligned"]}, config.train_split)


def _align_kfold(ctx: JobContext, config: Any) -> None:
    """No train split: k folds over the evaluation split's judged queries. The refitted models
    were trained on those queries, so the run reports their out-of-fold figures only (never
    ranks them on that split, never diagnoses them there)."""
    from dataclasses import replace

    from aptrank.train.align import too_few_queries
    from aptrank.train.align_kfold import align_kfold

    reason = too_few_queries(replace(config, train_split=config.eval_split), ctx.dataset)
    if reason:
        why = f"no {config.train_split} split, and for k-fold: {reason}"
        ctx.result.skipped["align"] = why
        ctx.say(f"skipping align: {why}")
        return
    ctx.say(f"  no {config.train_split} split: aligning by {config.folds}-fold out-of-fold")
    result = align_kfold(config, ctx.out / "models", ctx.progress, ctx.say)
    ctx.result.align = result
    write_json(ctx.out / "align.json", result)
    best = result["test"][result["selected"]["candidate"]]
    ctx.say(
        f"  models/aligned ({result['selected']['candidate']}, refitted): {result['mode']} "
        f"NDCG@10 {best['ndcg@10']:.4f}"
    )


@step(
    "teach",
    "teacher on a dev slice, synthetic queries, teacher labels (teach.json)",
    needs_train=True,
    needs_teacher=True,
)
def _teach_step(ctx: JobContext) -> None:
    from aptrank.teach.workflow import teach

    ctx.result.teach = teach(_teach_config(ctx.config), ctx.progress, models_dir=ctx.out / "models")
    write_json(ctx.out / "teach.json", ctx.result.teach)
    t = ctx.result.teach["teacher"]
    ctx.say(f"  teacher {t['spec']}: dev NDCG@10 {t['dev_ndcg10']:.4f}")
    for name, folder in ctx.result.teach.get("models", {}).items():
        ctx.result.models[name] = Path(folder)


@step(
    "distill",
    "students on the teacher's labels (models/), the scaling curve",
    needs_train=True,
    needs_teacher=True,
)
def _distill_step(ctx: JobContext) -> None:
    from aptrank.train.distill import DistillConfig, distill

    cfg = ctx.config
    dcfg = DistillConfig(
        teach=_teach_config(cfg), sizes=cfg.sizes, seed=cfg.seed, **cfg.distill_options
    )
    result = distill(dcfg, ctx.progress, models_dir=ctx.out / "models")
    ctx.result.distill = result
    write_json(ctx.out / "distill.json", result)
    ctx.result.models.update({n: Path(f) for n, f in result.get("models", {}).items()})
    ctx.say(f"  student selected on dev: {result['selected']['size']} queries")
    system = result.get("student_system")
    if system:
        ctx.say(
            f"  student system: {system['student_system']['ndcg@10']:.4f} against "
            f"{system['without_student']['ndcg@10']:.4f} without the student "
            f"(p = {system['paired_t_test']['p_value']:.3g})"
        )


def _rl_step(task: str) -> StepFunction:
    def run(ctx: JobContext) -> None:
        from aptrank.train.rl.experiment import run_experiment

        r = run_experiment(
            _rl_config(ctx.config, task),
            ctx.out / f"rl-{task}",
            ctx.progress,
            models_dir=ctx.out / "models",
        )
        ctx.result.rl[task] = r
        # the rewriter is a ranker (models/rewriter); the summarizer writes no artifact
        ctx.result.models.update({n: Path(f) for n, f in r.get("models", {}).items()})
        h = r["heldout"]
        ctx.say(
            f"  {task}: held-out retrieval reward {h['before']['retrieval']:.4f} -> "
            f"{h['after']['retrieval']:.4f}"
        )

    return run


step("rl-rewrite", "GRPO query rewriter for BM25, its reward curve", needs_train=True)(
    _rl_step("rewrite")
)
step("rl-summarize", "GRPO item summarizer for BM25, its reward curve", needs_train=True)(
    _rl_step("summarize")
)


@step("report", "markdown summary and self-contained report.html, trained rankers included")
def _report_step(ctx: JobContext) -> None:
    from aptrank.report import write_report

    evaluate_models(ctx)
    write_report(ctx.result, ctx.out)


def _teach_config(config: RunConfig) -> Any:
    from aptrank.teach.workflow import TeachConfig

    if config.teacher is None:
        raise AptrankError(f"no teacher given; e.g. --teacher '{DEFAULT_TEACHER}'")
    return TeachConfig(
        dataset=config.dataset,
        teacher=config.teacher,
        eval_split=config.split,
        seed=config.seed,
        synthetic_docs=config.synthetic_docs,
        **config.teach_options,
    )


def _rl_config(config: RunConfig, task: str) -> Any:
    from aptrank.train.rl.experiment import RLExperimentConfig
    from aptrank.train.rl.grpo import GRPOTrainConfig

    options = dict(config.rl_options)
    grpo = options.pop("grpo", {})
    return RLExperimentConfig(
        dataset=config.dataset,
        task=task,
        eval_split=config.split,
        seed=config.seed,
        grpo=grpo if isinstance(grpo, GRPOTrainConfig) else GRPOTrainConfig.for_task(task, **grpo),
        **options,
    )
