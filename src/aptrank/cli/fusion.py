"""``aptrank fit-fusion``: weights for ``fuse(A,B,...)`` fitted on judgments, out of fold."""

from __future__ import annotations

from pathlib import Path

import typer


def fit_fusion(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    member: list[str] = typer.Option(
        ..., "--member", "-m", help="A member pipeline of the fuse stage; repeat for each."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Where to write: a .json weights file, or a folder for a trained-ranker artifact "
        "(weights.json + aptrank.json, usable as a pipeline string).",
    ),
    first_stage: str = typer.Option(
        None,
        "--first-stage",
        help="The candidates' first stage, as the pipeline will use it (bm25>>fuse(...)@K). "
        "Without it fuse retrieves: every member must retrieve.",
    ),
    depth: int = typer.Option(
        None,
        "--depth",
        min=1,
        help="Candidates per query (default 100, or 1000 without "
        "--first-stage: each member's top list).",
    ),
    norm: str = typer.Option(
        "zscore", "--norm", help="zscore (per query) or global (fitted scales)."
    ),
    method: str = typer.Option(
        "auto",
        "--method",
        help="auto (the dev slice chooses: equal, pairwise, coordinate-ascent) or one of them.",
    ),
    split: str = typer.Option("train", "--split", "-s", help="The judgments fitted on."),
    dev_size: int = typer.Option(100, "--dev-size", min=1, help="Fit queries held out to choose."),
    seed: int = typer.Option(0, "--seed"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Fit fusion weights on a split's judgments (never on the queries a member was trained on),
    choose the method on a dev slice, and write the weights for fuse(...)[weights=FILE]."""
    from aptrank.cli._common import progress_bars, say, setup_logging
    from aptrank.train.fusion import FitFusionConfig, write_fusion
    from aptrank.train.fusion import fit_fusion as run_fit

    setup_logging(verbose)
    config = FitFusionConfig(
        dataset=dataset,
        members=tuple(member),
        split=split,
        first_stage=first_stage,
        depth=depth,
        norm=norm,
        method=method,
        dev_size=dev_size,
        seed=seed,
    )
    with progress_bars(progress) as bars:
        weights = run_fit(config, progress=bars)
    path, pipeline = write_fusion(weights, out)
    fit = weights.fit
    dev = ", ".join(f"{m} {v:.4f}" for m, v in fit["dev_ndcg@10"].items())
    say(
        f"fitted on {fit['fit_queries']} {split} queries ({fit['excluded_queries']} left out: a "
        f"member was trained on them); dev NDCG@10: {dev}"
    )
    verdict = {True: "beat", False: "do not beat", None: "were not compared with"}
    say(
        f"chosen: {fit['method']}; fitted weights {verdict[fit['beats_equal_on_dev']]} equal "
        f"weights on dev; weights {', '.join(f'{w:.4f}' for w in weights.weights)}"
    )
    say(f"written {path}; use it as: '{pipeline}'")
