"""``aptrank run``: the main job on one dataset, as a sequence of steps ending in a report.

Steps: ``evaluate`` (the baselines), ``diagnose``, ``teach`` and ``distill`` (a teacher's labels
and the students trained on them, with the scaling curve), ``rl-rewrite`` and ``rl-summarize``
(GRPO policies rewarded by BM25's metric, with their reward curves) and ``report``; a step that
needs a train split is skipped, with a line saying why, when the dataset has none. The
``default`` profile stays CPU-friendly (about 15 minutes on a 5k-document corpus on 2 cores,
most of it encoding the corpus once); heavier steps (teach and distill take hours on 2 cores,
each RL step about an hour) are opt-in through ``--steps`` or ``--profile full``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aptrank.data import load_dataset, splits
from aptrank.errors import AptrankError
from aptrank.experiment import (
    DEFAULT_METRICS,
    EvaluateConfig,
    ProgressFactory,
    evaluate_pipelines,
    package_versions,
    write_json,
)
from aptrank.teach.workflow import DEFAULT_TEACHER


@dataclass(frozen=True)
class Step:
    name: str
    help: str
    needs_train: bool = False


STEPS: dict[str, Step] = {
    "evaluate": Step("evaluate", "baselines on the evaluation split"),
    "diagnose": Step("diagnose", "where and why the pretrained rankers fail (diagnosis/)"),
    "teach": Step(
        "teach", "teacher on a dev slice, synthetic queries, teacher labels (teach.json)", True
    ),
    "distill": Step("distill", "students on the teacher's labels, the scaling curve", True),
    "rl-rewrite": Step("rl-rewrite", "GRPO query rewriter for BM25, its reward curve", True),
    "rl-summarize": Step("rl-summarize", "GRPO item summarizer for BM25, its reward curve", True),
    "report": Step("report", "markdown summary and self-contained report.html"),
}

PROFILES: dict[str, tuple[str, ...]] = {
    "default": ("evaluate", "diagnose", "report"),
    "full": ("evaluate", "diagnose", "teach", "distill", "report"),
}

#: The rankers the diagnose step compares (the pretrained ones of the baselines).
DIAGNOSED = ("bm25", "dense")

BASELINES = ("bm25", "dense", "bm25>>dense@100")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``aptrank run`` does; saved as ``config.json`` in the run folder."""

    dataset: str
    split: str = "test"
    profile: str = "default"
    steps: tuple[str, ...] = PROFILES["default"]
    pipelines: tuple[str, ...] = BASELINES
    diagnosed: tuple[str, ...] = DIAGNOSED
    metrics: tuple[str, ...] = DEFAULT_METRICS
    depth: int = 1000
    seed: int = 0
    teacher: str = DEFAULT_TEACHER
    synthetic_docs: int = 800
    sizes: tuple[int, ...] = (0, 50, 100, 200)
    #: further TeachConfig / DistillConfig fields for the teach and distill steps
    teach_options: dict[str, Any] = field(default_factory=dict)
    distill_options: dict[str, Any] = field(default_factory=dict)
    #: RLExperimentConfig fields for the rl-rewrite / rl-summarize steps; ``grpo`` may hold a
    #: dict of GRPOTrainConfig fields
    rl_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_profile(
        cls,
        dataset: str,
        profile: str = "default",
        split: str = "test",
        steps: list[str] | None = None,
    ) -> RunConfig:
        if profile not in PROFILES:
            raise AptrankError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        chosen = tuple(s.strip() for s in steps if s.strip()) if steps else PROFILES[profile]
        unknown = [s for s in chosen if s not in STEPS]
        if unknown:
            raise AptrankError(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEPS)}")
        return cls(dataset=dataset, split=split, profile=profile, steps=chosen)


@dataclass
class RunResult:
    config: RunConfig
    out: Path
    comparison: Any = None
    skipped: dict[str, str] = field(default_factory=dict)
    experiment: Any = None
    diagnosis: Any = None
    teach: dict[str, Any] | None = None
    distill: dict[str, Any] | None = None
    rl: dict[str, dict[str, Any]] = field(default_factory=dict)  #: task -> experiment result


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
    out.mkdir(parents=True, exist_ok=True)
    _write_config(config, out, dataset)
    say(f"{dataset!r}; steps: {', '.join(config.steps)}")
    for name in config.steps:
        step = STEPS[name]
        if step.needs_train and "train" not in available:
            result.skipped[name] = f"{dataset.name} has no train split (splits: {available})"
            say(f"skipping {name}: {result.skipped[name]}")
            continue
        if name == "evaluate":
            eval_cfg = EvaluateConfig(
                dataset=config.dataset,
                split=config.split,
                pipelines=config.pipelines,
                metrics=config.metrics,
                depth=config.depth,
                seed=config.seed,
            )
            result.experiment = evaluate_pipelines(
                dataset,
                eval_cfg,
                out=out,
                progress=progress,
                on_result=lambda r: say(f"  {r.pipeline}: ranked in {r.seconds:.1f} s"),
            )
            result.comparison = result.experiment.comparison
        elif name == "diagnose":
            result.diagnosis = _diagnose(config, dataset, out / "diagnosis", progress, say)
        elif name == "teach":
            from aptrank.teach.workflow import teach

            result.teach = teach(_teach_config(config), progress)
            write_json(out / "teach.json", result.teach)
            t = result.teach["teacher"]
            say(f"  teacher {t['spec']}: dev NDCG@10 {t['dev_ndcg10']:.4f}")
        elif name == "distill":
            from aptrank.train.distill import DistillConfig, distill

            dcfg = DistillConfig(
                teach=_teach_config(config),
                sizes=config.sizes,
                seed=config.seed,
                **config.distill_options,
            )
            result.distill = distill(dcfg, progress)
            write_json(out / "distill.json", result.distill)
            say(f"  student selected on dev: {result.distill['selected']['size']} queries")
        elif name.startswith("rl-"):
            from aptrank.train.rl.experiment import run_experiment

            task = name.removeprefix("rl-")
            r = run_experiment(_rl_config(config, task), out / name, progress)
            result.rl[task] = r
            h = r["heldout"]
            say(
                f"  {task}: held-out retrieval reward {h['before']['retrieval']:.4f} -> "
                f"{h['after']['retrieval']:.4f}"
            )
        elif name == "report":
            from aptrank.report import write_report

            write_report(result, out)
    _write_config(config, out, dataset, skipped=result.skipped)
    return result


def _teach_config(config: RunConfig) -> Any:
    from aptrank.teach.workflow import TeachConfig

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


def _diagnose(
    config: RunConfig,
    dataset: Any,
    out: Path,
    progress: ProgressFactory | None,
    say: Callable[[str], None],
) -> Any:
    """The diagnose step: its own folder (diagnosis.json, diagnosis.md, report.html)."""
    from aptrank.diagnose import DiagnoseConfig, check_inputs, diagnose
    from aptrank.rankers import build_ranker
    from aptrank.report.diagnosis import write_diagnosis

    diag_cfg = DiagnoseConfig(
        dataset=config.dataset, split=config.split, rankers=config.diagnosed, seed=config.seed
    )
    rankers = {spec: build_ranker(spec) for spec in config.diagnosed}
    check_inputs(dataset, rankers, diag_cfg)
    diagnosis = diagnose(dataset, rankers, diag_cfg, progress=progress)
    write_diagnosis(diagnosis, out, {"dataset_path": dataset.path, "n_docs": len(dataset.corpus)})
    for name, r in diagnosis.rankers.items():
        say(f"  diagnosed {name} in {r.seconds['total']:.1f} s")
    return diagnosis


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
