"""``aptrank evaluate``: score pipelines on a dataset's judgments."""

from __future__ import annotations

from pathlib import Path

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION
from aptrank.experiment import DEFAULT_METRICS

METRIC_HELP = f"Metrics, repeatable (default: {', '.join(DEFAULT_METRICS)})."
PIPELINE_HELP = (
    "A pipeline string; repeat for several. 'bm25', 'dense' (all-MiniLM-L6-v2), "
    "'dense:<model>', 'ce:<model>', 'A>>B@k' (B reranks A's top k), 'rrf(A,B)', 'fuse(A,B)' "
    "(weighted sum of normalised scores), or a trained ranker's folder; stage options in "
    "brackets, e.g. 'dense\\[backend=onnx-int8]', 'fuse(A,B)\\[weights=FILE]'."
)


def evaluate(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    split: str = typer.Option("test", "--split", "-s", help="The qrels split to evaluate on."),
    pipeline: list[str] = typer.Option(None, "--pipeline", "-p", help=PIPELINE_HELP),
    metric: list[str] = typer.Option(None, "--metric", "-m", help=METRIC_HELP),
    baseline: str = typer.Option(
        None, "--baseline", "-b", help="Pipeline to test the others against (default: the first)."
    ),
    depth: int = typer.Option(1000, "--depth", min=1, help="Documents kept per query."),
    out: Path = typer.Option(None, "--out", "-o", help="Result folder (default: runs/...)."),
    strict: bool = typer.Option(
        True, "--strict/--lenient", help="Judgments naming unknown queries/docs: error or drop."
    ),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Evaluate pipelines: metrics, per-query scores, significance, TREC run files."""
    from aptrank.cli._common import default_out, progress_bars, say, set_engine, setup_logging
    from aptrank.cli._common import out as stdout
    from aptrank.data import load_dataset
    from aptrank.experiment import EvaluateConfig, check_config, evaluate_pipelines

    setup_logging(verbose)
    set_engine(engine, ray_address)
    pipelines = tuple(pipeline) if pipeline else ("bm25", "dense")
    config = EvaluateConfig(
        dataset=dataset,
        split=split,
        pipelines=pipelines,
        metrics=tuple(metric) if metric else DEFAULT_METRICS,
        depth=depth,
        baseline=baseline,
    )
    check_config(config)
    ds = load_dataset(dataset, split, strict=strict)
    folder = out or default_out("evaluate", dataset)
    say(f"{ds!r}: evaluating {len(pipelines)} pipeline(s)")
    with progress_bars(progress) as bars:
        result = evaluate_pipelines(
            ds,
            config,
            out=folder,
            progress=bars,
            on_result=lambda r: say(f"  {r.pipeline}: ranked in {r.seconds:.1f} s"),
        )
    stdout.print(result.comparison.to_rich_table())
    say(f"results in {folder}/ (metrics.json, per_query.json, runs/)")
