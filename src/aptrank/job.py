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
import sys
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from aptrank.data import load_dataset, splits
from aptrank.errors import AptrankError
from aptrank.experiment import (
    DEFAULT_METRICS,
    EvaluateConfig,
    ExperimentResult,
    PipelineResult,
    ProgressFactory,
    check_config,
    compare_results,
    evaluate_pipelines,
    package_versions,
    run_pipeline,
    write_json,
)
from aptrank.teach.workflow import DEFAULT_TEACHER
from aptrank.types import Dataset

#: The rankers the diagnose step compares (the pretrained ones of the baselines).
DIAGNOSED = ("bm25", "dense")

BASELINES = ("bm25", "dense", "bm25>>dense@100")

PROFILES: dict[str, tuple[str, ...]] = {
    "default": ("evaluate", "diagnose", "report"),
    "full": ("evaluate", "diagnose", "teach", "distill", "report"),
}


# -- configuration -------------------------------------------------------------------------------


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
    #: the teach and distill steps' teacher; without one they are skipped
    teacher: str | None = None
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
        steps: Sequence[str] | None = None,
    ) -> RunConfig:
        values = {"dataset": dataset, "profile": profile, "split": split, "steps": steps}
        return cls.from_dict({k: v for k, v in values.items() if v is not None})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str | None = None) -> RunConfig:
        """A checked config from plain values (a TOML table, a saved ``run`` object): lists
        become tuples, dicts are copied, ``steps`` default to the profile's. Unknown keys, wrong
        types and unknown steps or profiles raise, naming ``source`` (a file) and the key."""
        where = f"{source}: " if source else ""
        hints = typing.get_type_hints(cls)
        known = [f.name for f in fields(cls)]
        for key, value in values.items():
            if key not in known:
                raise AptrankError(f"{where}unknown key {key!r}; the keys are {', '.join(known)}")
            if not _fits(value, hints[key]):
                raise AptrankError(
                    f"{where}key {key!r} should be {_describe(hints[key])}, not {value!r}"
                )
        if "dataset" not in values:
            raise AptrankError(f"{where}no dataset: give a DATASET or a 'dataset' key")
        checked = {
            k: tuple(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
            for k, v in values.items()
        }
        profile = checked.get("profile", "default")
        if profile not in PROFILES:
            raise AptrankError(
                f"{where}unknown profile {profile!r}; choose one of {', '.join(PROFILES)}"
            )
        chosen = tuple(s.strip() for s in checked.get("steps", ()) if s.strip())
        chosen = chosen or PROFILES[profile]
        unknown = [s for s in chosen if s not in STEPS]
        if unknown:
            raise AptrankError(
                f"{where}unknown step(s) {', '.join(unknown)}; steps: {', '.join(STEPS)}"
            )
        return cls(**{**checked, "profile": profile, "steps": chosen})

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> RunConfig:
        """The config in a TOML or JSON file of RunConfig fields, or in a run folder's saved
        ``config.json`` (its ``run`` object), with ``overrides`` (options given on the command
        line) on top; an overridden ``profile`` brings its own steps unless ``steps`` is too."""
        values = read_config_file(Path(path))
        if isinstance(values.get("run"), dict):
            values = values["run"]
        if "profile" in overrides and "steps" not in overrides:
            values = {k: v for k, v in values.items() if k != "steps"}
        return cls.from_dict({**values, **overrides}, source=str(path))

    def with_pipelines(self, extra: Sequence[str]) -> RunConfig:
        """``extra`` pipelines after this config's own, duplicates dropped, order kept."""
        return replace(self, pipelines=tuple(dict.fromkeys([*self.pipelines, *extra])))


def read_config_file(path: Path) -> dict[str, Any]:
    """The top-level table of a ``.toml`` or ``.json`` file; errors name the file (and line)."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise AptrankError(f"{path}: a config file is .toml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AptrankError(f"{path}: cannot read the config file ({e})") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AptrankError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    else:
        toml = _toml_module(path)
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as e:
            raise AptrankError(f"{path}: not valid TOML ({e})") from None
    if not isinstance(data, dict):
        raise AptrankError(f"{path}: expected a table of settings, not {type(data).__name__}")
    return data


def _toml_module(path: Path) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:  # Python 3.10
        import tomli
    except ModuleNotFoundError:
        raise AptrankError(
            f"{path}: reading TOML on Python 3.10 needs tomli: pip install tomli"
        ) from None
    return tomli


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON/TOML value fits a field type (a list fits a tuple)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return "a table of options"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    return str(getattr(hint, "__name__", hint))


# -- the job: its result, the context a step sees, the step registry ------------------------------


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


# -- the steps -----------------------------------------------------------------------------------


@step("evaluate", "baselines on the evaluation split")
def _evaluate_step(ctx: JobContext) -> None:
    cfg = ctx.config
    eval_cfg = EvaluateConfig(
        dataset=cfg.dataset,
        split=cfg.split,
        pipelines=cfg.pipelines,
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
    from aptrank.diagnose import DiagnoseConfig, check_inputs, diagnose
    from aptrank.rankers import build_ranker
    from aptrank.report.diagnosis import write_diagnosis

    cfg, dataset = ctx.config, ctx.dataset
    diag_cfg = DiagnoseConfig(
        dataset=cfg.dataset, split=cfg.split, rankers=cfg.diagnosed, seed=cfg.seed
    )
    rankers = {spec: build_ranker(spec) for spec in cfg.diagnosed}
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
