"""``aptrank run``: the main job on one dataset, ending in a report."""

from __future__ import annotations

from pathlib import Path

import typer


def run(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default: runs/run-...)."),
    split: str = typer.Option("test", "--split", "-s", help="The qrels split to report on."),
    steps: str = typer.Option(
        None,
        "--steps",
        help="Comma-separated steps to run (default: the profile's): evaluate, diagnose, teach, "
        "distill, rl-rewrite, rl-summarize, report.",
    ),
    profile: str = typer.Option(
        "default",
        "--profile",
        help="default (evaluate, diagnose, report: CPU-friendly) or full (adds teach and distill: "
        "hours on 2 cores).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Run the main job: baselines (BM25, dense, BM25>>dense@100), their diagnosis, a report;
    with --profile full also a teacher's labels and the distilled students' scaling curve."""
    from aptrank.cli._common import default_out, progress_bars, say, setup_logging
    from aptrank.cli._common import out as stdout
    from aptrank.job import RunConfig, run_job

    setup_logging(verbose)
    folder = out or default_out("run", dataset)
    config = RunConfig.from_profile(
        dataset, profile, split=split, steps=steps.split(",") if steps else None
    )
    with progress_bars(progress) as bars:
        result = run_job(config, folder, progress=bars, say=say)
    if result.comparison is not None:
        stdout.print(result.comparison.to_rich_table())
    say(f"report: {folder / 'report.html'}  summary: {folder / 'summary.md'}")
