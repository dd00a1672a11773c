"""``aptrank run``: the main job on one dataset, as a sequence of steps ending in a report.

Steps: ``evaluate`` (the baselines), ``diagnose``, ``teach`` and ``distill`` (a teacher's labels
and the students trained on them, with the scaling curve), ``rl-rewrite`` and ``rl-summarize``
(GRPO policies rewarded by BM25's metric, with their reward curves) and ``report``. Each step is a
function of one :class:`JobContext`, registered by name in :data:`STEPS` with ``@step``. A step
that needs a train split is skipped, with a line saying why, when the dataset has none; one that
needs a teacher (teach, distill) when no teacher is given. The rankers a step trains are written
under ``<out>/models/<name>/`` and registered in :attr:`RunResult.models`; before the report
they are evaluated beside the baselines (named ``models/<name>``), with significance tests
against the first baseline. The ``default`` profile stays CPU-friendly (about 15 minutes on a
5k-document corpus on 2 cores, most of it encoding the corpus once); heavier steps (teach and
distill take hours on 2 cores, each RL step about an hour) are opt-in through ``--steps`` or
``--profile full``. A run's saved ``config.json`` (or a TOML/JSON file of :class:`RunConfig`
fields) is read back by :meth:`RunConfig.from_file`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aptrank.data import load_dataset, splits
from aptrank.errors import AptrankError
from aptrank.experiment import (
    EvaluateConfig,
    ExperimentResult,
    PipelineResult,
    ProgressFactory,
    check_config,
    compare_results,
    package_versions,
    run_pipeline,
)
from aptrank.job.config import BASELINES, DIAGNOSED, PROFILES, RunConfig, read_config_file
from aptrank.teach.workflow import DEFAULT_TEACHER
from aptrank.types import Dataset


@dataclass
class RunResult:
    config: RunConfig
    out: Path
    comparison: Any = None
    skipped: dict[str, str] = field(default_factory=dict)
    experiment: ExperimentResult | None = None
    diagnosis: Any = None
    teach: dict[str, Any] | None = None
    distill: dict[str, Any] | None = None
    align: dict[str, Any] | None = None
    rl: dict[str, dict[str, Any]] = field(default_factory=dict)  #: task -> experiment result
    #: trained rankers: name -> artifact folder (a pipeline string), under ``<out>/models/``
    models: dict[str, Path] = field(default_factory=dict)


@dataclass
class JobContext:
    """What a step works with: the config, the loaded dataset, the run folder, progress, the
    ``say`` callback for one-line news, and the result it fills in."""

    config: RunConfig
    dataset: Dataset
    out: Path
    result: RunResult
    progress: ProgressFactory | None = None
    say: Callable[[str], None] = lambda _: None


StepFunction = Callable[[JobContext], None]


@dataclass(frozen=True)
class Step:
    name: str
    help: str
    run: StepFunction
    needs_train: bool = False
    needs_teacher: bool = False


STEPS: dict[str, Step] = {}


def step(
    name: str, help: str, *, needs_train: bool = False, needs_teacher: bool = False
) -> Callable[[StepFunction], StepFunction]:
    """Register the decorated function as the step ``name`` of ``aptrank run``."""

    def register(fn: StepFunction) -> StepFunction:
        STEPS[name] = Step(name, help, fn, needs_train, needs_teacher)
        return fn

    return register


def run_job(
    config: RunConfig,
    out: str | Path,
    progress: ProgressFactory | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> RunResult:
    """Run the steps of ``config`` on its dataset, writing everything under ``out``."""
    out = Path(out)
    dataset = load_dataset(config.dataset, config.split)
    available = splits(dataset.path) if dataset.path else [config.split]
    result = RunResult(config, out)
    ctx = JobContext(config, dataset, out, result, progress, say)
    out.mkdir(parents=True, exist_ok=True)
    _write_config(config, out, dataset)
    say(f"{dataset!r}; steps: {', '.join(config.steps)}")
    for name in config.steps:
        todo = STEPS[name]
        if todo.needs_train and "train" not in available:
            result.skipped[name] = f"{dataset.name} has no train split (splits: {available})"
        elif todo.needs_teacher and config.teacher is None:
            result.skipped[name] = f"no --teacher given; e.g. --teacher '{DEFAULT_TEACHER}'"
        if name in result.skipped:
            say(f"skipping {name}: {result.skipped[name]}")
            continue
        todo.run(ctx)
    evaluate_models(ctx)  # trained rankers join the metrics even without a report step
    _write_config(config, out, dataset, skipped=result.skipped)
    return result


def evaluate_models(ctx: JobContext) -> None:
    """Rank the trained rankers not evaluated yet (``models/<name>`` in the tables) and compare
    them with the runs already ranked, rewriting ``metrics.json`` and the other result files."""
    prior = ctx.result.experiment
    done: list[PipelineResult] = list(prior.results) if prior is not None else []
    ranked = {r.pipeline for r in done}
    todo = {f"models/{n}": str(f) for n, f in ctx.result.models.items()}
    todo = {label: spec for label, spec in todo.items() if label not in ranked}
    if not todo:
        return
    cfg = ctx.config
    models_cfg = EvaluateConfig(
        cfg.dataset, cfg.split, tuple(todo.values()), cfg.metrics, cfg.depth, seed=cfg.seed
    )
    rankers = check_config(models_cfg)
    for label, spec in todo.items():
        start = time.perf_counter()
        run = run_pipeline(rankers[spec], ctx.dataset, cfg.depth, ctx.progress)
        done.append(PipelineResult(label, run, time.perf_counter() - start, rankers[spec].config()))
        ctx.say(f"  {label}: ranked in {done[-1].seconds:.1f} s")
    base = prior.config if prior is not None else models_cfg
    names = tuple(r.pipeline for r in done)
    experiment = compare_results(ctx.dataset, replace(base, pipelines=names), done, ctx.out)
    ctx.result.experiment, ctx.result.comparison = experiment, experiment.comparison


def _write_config(
    config: RunConfig, out: Path, dataset: Any, skipped: dict[str, str] | None = None
) -> None:
    """``config.json``: the run's config, the evaluate step's (written by it) and versions."""
    path = out / "config.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data = {
        "run": asdict(config),
        "dataset_path": dataset.path,
        "skipped_steps": skipped or {},
        "versions": package_versions(),
        "evaluate": previous.get("evaluate", previous if "pipelines" in previous else None),
    }
    tmp = path.with_name("config.json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# the built-in steps register themselves (imported last: they use what is defined above)
from aptrank.job import steps as _steps  # noqa: E402, F401

__all__ = [
    "BASELINES",
    "DIAGNOSED",
    "PROFILES",
    "STEPS",
    "AptrankError",
    "JobContext",
    "RunConfig",
    "RunResult",
    "Step",
    "evaluate_models",
    "read_config_file",
    "run_job",
    "step",
]
