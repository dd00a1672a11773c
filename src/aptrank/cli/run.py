"""``aptrank run``: the main job on one dataset, ending in a report."""

from __future__ import annotations

from pathlib import Path

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION

CONFIG_HELP = (
    "A .toml or .json file of run settings (the keys of a run's saved config.json 'run' object: "
    "dataset, split, steps, pipelines, teacher, metrics, depth, seed, ...), or a run folder's "
    "config.json itself to repeat that run. Options given here override it."
)


def run(
    dataset: str | None = typer.Argument(
        None, help="A BEIR folder, or a name found through APTRANK_DATA (optional with --config)."
    ),
    config_file: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (default: runs/run-...)."
    ),
    split: str | None = typer.Option(
        None, "--split", "-s", help="The qrels split to report on (default: test)."
    ),
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="Comma-separated steps to run (default: the profile's): evaluate, diagnose, teach, "
        "distill, rl-rewrite, rl-summarize, report.",
    ),
    profile: str | None = typer.Option(
        None,
        "--profile",
        help="default (evaluate, diagnose, align where there is a train split, report: "
        "CPU-sized) or full (adds teach and distill: hours on 2 cores).",
    ),
    pipeline: list[str] | None = typer.Option(
        None,
        "--pipeline",
        "-p",
        help="A pipeline to evaluate after the baselines (bm25, dense, bm25>>dense@100, or the "
        "config file's pipelines); repeat for several.",
    ),
    teacher: str | None = typer.Option(
        None,
        "--teacher",
        help="The teacher of the teach and distill steps (skipped without one), e.g. "
        "'ranker:bm25' or an ensemble(...) of rankers.",
    ),
    sizes: str | None = typer.Option(
        None,
        "--sizes",
        help="The distill step's curve points: synthetic queries per student, comma-separated "
        "(default 0,50,100,200; 0 = human judgments only).",
    ),
    synthetic_docs: int | None = typer.Option(
        None, "--synthetic-docs", min=0, help="Corpus documents the teach step writes queries for."
    ),
    constraint_model: str | None = typer.Option(
        None,
        "--constraint-model",
        help="A compatibility scorer's folder (aptrank constraints train): with explicit "
        "constraints in >= 10 % of the queries, constrain(bm25)[model=FOLDER] joins the rule-only "
        "constrain(bm25) and constrain(dense).",
    ),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Run the main job: baselines (BM25, dense, BM25>>dense@100), their diagnosis, a report;
    with --profile full and a --teacher also the teacher's labels and the distilled students,
    evaluated beside the baselines."""
    from aptrank.cli._common import default_out, progress_bars, say, set_engine, setup_logging
    from aptrank.cli._common import out as stdout
    from aptrank.errors import AptrankError
    from aptrank.job import RunConfig, run_job

    setup_logging(verbose)
    set_engine(engine, ray_address)
    given = {
        "dataset": dataset,
        "split": split,
        "profile": profile,
        "steps": steps.split(",") if steps is not None else None,
        "teacher": teacher,
        "sizes": _sizes(sizes) if sizes is not None else None,
        "synthetic_docs": synthetic_docs,
        "constraint_model": constraint_model,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if config_file is not None:
        config = RunConfig.from_file(config_file, **overrides)
    elif dataset is None:
        raise AptrankError("give a DATASET, or a --config file that names one")
    else:
        config = RunConfig.from_dict(overrides)
    config = config.with_pipelines(pipeline or ())
    folder = out or default_out("run", config.dataset)
    with progress_bars(progress) as bars:
        result = run_job(config, folder, progress=bars, say=say)
    if result.comparison is not None:
        stdout.print(result.comparison.to_rich_table())
    say(f"report: {folder / 'report.html'}  summary: {folder / 'summary.md'}")


def _sizes(text: str) -> list[int]:
    from aptrank.errors import AptrankError

    try:
        points = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise AptrankError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not points or min(points) < 0:
        raise AptrankError(f"--sizes needs non-negative sizes, got {text!r}")
    return points
