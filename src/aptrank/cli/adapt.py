"""``aptrank adapt``: a query adapter trained on judgments over the cached document embeddings."""

from __future__ import annotations

from pathlib import Path

import typer


def adapt(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder for adapter.npz and aptrank.json (a pipeline string)."
    ),
    model: str = typer.Option(
        "all-MiniLM-L6-v2", "--model", "-m", help="The embedding model whose queries are adapted."
    ),
    kind: str = typer.Option(
        "linear", "--kind", help="linear (d x d map and bias) or lowrank (identity + rank r)."
    ),
    rank: int = typer.Option(64, "--rank", min=1, help="lowrank: the rank r."),
    temperature: float = typer.Option(0.05, "--temperature", help="Softmax temperature."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="At most this many epochs."),
    weight_decay: float = typer.Option(
        None, "--weight-decay", help="Pull toward the identity; default: the dev slice chooses."
    ),
    select: str = typer.Option(
        "guarded",
        "--select",
        help="guarded: the best dev NDCG@10 that keeps the dev queries whose relevant documents "
        "no training query shares at the plain encoder's figure; dev: the best dev NDCG@10.",
    ),
    split: str = typer.Option("train", "--split", "-s", help="The judgments trained on."),
    eval_split: str = typer.Option(
        "test",
        "--eval-split",
        help="Held-out judgments measured with and without the adapter "
        "(skipped when the dataset has no such split).",
    ),
    dev_size: int = typer.Option(100, "--dev-size", min=1, help="Training queries held out."),
    seed: int = typer.Option(0, "--seed"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Train a query adapter (documents are not re-encoded: their cached embeddings are used as
    they are), choose its epoch on a dev slice and write it as a trained-ranker folder."""
    from aptrank.cli._common import progress_bars, say, setup_logging
    from aptrank.data import load_dataset
    from aptrank.data.beir import splits
    from aptrank.train.adapter import AdapterConfig, train_adapter, write_adapter

    setup_logging(verbose)
    config = AdapterConfig(
        model=model,
        kind=kind,
        rank=rank,
        temperature=temperature,
        lr=lr,
        epochs=epochs,
        weight_decay=weight_decay,
        dev_size=dev_size,
        seed=seed,
        split=split,
        select=select,
    )
    ds = load_dataset(dataset, split)
    held_out = None
    if eval_split and eval_split != split and (ds.path is None or eval_split in splits(ds.path)):
        held_out = load_dataset(dataset, eval_split)
    with progress_bars(progress) as bars:
        adapter, report = train_adapter(ds, config, progress=bars(f"{model}: encoding corpus"))
    say(
        f"trained on {len(report.train_queries)} {split} queries in {report.seconds} s "
        f"({report.docs_encoded} documents encoded, none re-encoded); dev NDCG@10 "
        f"({len(report.dev_queries)} queries): {report.dev_ndcg10_before:.4f} -> "
        f"{report.dev_ndcg10_after:.4f} (weight decay {report.weight_decay:g}, epoch "
        f"{report.epoch})"
    )
    record, pipeline, figures = write_adapter(out, adapter, report, ds, held_out)
    if held_out is not None:
        for part in ("", ", unseen documents"):
            plain = figures.get(f"{eval_split} (no adapter){part}")
            adapted = figures.get(f"{eval_split}{part}")
            if plain is None or adapted is None:
                continue
            say(
                f"{eval_split}{part} ({adapted['queries']} queries): NDCG@10 "
                f"{plain['ndcg@10']:.4f} -> {adapted['ndcg@10']:.4f}, recall@100 "
                f"{plain['recall@100']:.4f} -> {adapted['recall@100']:.4f}"
            )
    say(f"written {record}; use it as: '{out}' or '{pipeline.replace('./', f'{out}/', 1)}'")
