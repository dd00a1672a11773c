"""``aptrank constraints generate|train``: pairs for the compatibility scorer, and the scorer."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Constraint-aware ranking: generate satisfying/violating pairs from a corpus and train "
    "the compatibility scorer that constrain(PIPELINE)[model=<folder>] uses.",
    no_args_is_help=True,
)


@app.command("generate")
def generate(
    corpus: str = typer.Argument(
        ..., help="A BEIR folder or dataset name: only its corpus.jsonl is read."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for train.jsonl and dev.jsonl."),
    n: int = typer.Option(3000, "--n", min=1, help="Training records."),
    dev: int = typer.Option(300, "--dev", min=1, help="Dev records (documents disjoint)."),
    kinds: str = typer.Option(
        "exclusion,paraphrase,antonym,negation", "--kinds", help="Record kinds, comma-separated."
    ),
    max_words: int = typer.Option(180, "--max-words", min=20, help="Words kept per document."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Generate satisfying/violating pairs from a corpus's documents (no query, no judgment)."""
    from aptrank.cli._common import say
    from aptrank.constraints.generate import (
        KINDS,
        GenerateConfig,
        config_dict,
        corpus_only,
        write_pairs,
    )
    from aptrank.errors import AptrankError

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = sorted(set(chosen) - set(KINDS))
    if unknown:
        raise AptrankError(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")
    from aptrank.constraints.generate import generate as run_generate

    config = GenerateConfig(n=n, dev=dev, max_words=max_words, kinds=chosen, seed=seed)
    train, dev_rows = run_generate(corpus_only(corpus), config)
    write_pairs(out, train, dev_rows, {"corpus": corpus, "config": config_dict(config)})
    say(f"{len(train)} training and {len(dev_rows)} dev records in {out}")


@app.command("train")
def train(
    pairs: Path = typer.Option(..., "--pairs", help="A folder written by `constraints generate`."),
    out: Path = typer.Option(..., "--out", "-o", help="The scorer's artifact folder."),
    backbone: str = typer.Option("all-MiniLM-L6-v2", "--backbone"),
    kinds: str = typer.Option("exclusion,paraphrase", "--kinds", help="Record kinds trained on."),
    max_length: int = typer.Option(192, "--max-length", min=16),
    epochs: float = typer.Option(1.0, "--epochs"),
    max_steps: int = typer.Option(None, "--max-steps", min=1),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    learning_rate: float = typer.Option(7e-5, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train the compatibility scorer (a MiniLM cross-encoder) into an artifact folder and
    report its pair accuracy on the generated dev pairs against the rule check."""
    from aptrank.cli._common import say, setup_logging
    from aptrank.constraints.scorer import ScorerTrainConfig, train_scorer

    setup_logging(verbose)
    config = ScorerTrainConfig(
        backbone=backbone,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        max_length=max_length,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
    )
    result = train_scorer(pairs, out, config, progress=progress)
    for kind, figs in result["figures"].items():
        say(f"dev {kind}: " + ", ".join(f"{k} {v:.3f}" for k, v in figs.items()))
    say(f"trained {result['steps']} steps in {result['train_s']:.0f} s; artifact in {out}")
