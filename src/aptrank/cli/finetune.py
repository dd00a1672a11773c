"""``aptrank finetune``: fine-tune the embedding model on a dataset's training judgments."""

from __future__ import annotations

from pathlib import Path

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION


def finetune(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="The model folder to write: a sentence-transformers model and a trained ranker "
        "(aptrank.json; the folder is a pipeline string). A killed run resumes there.",
    ),
    base: str = typer.Option("all-MiniLM-L6-v2", "--base", help="The pretrained bi-encoder."),
    split: str = typer.Option("train", "--split", "-s", help="The judgments trained on."),
    eval_split: str = typer.Option(
        "test", "--eval-split", help="Measured after training, when the dataset has it."
    ),
    loss: str = typer.Option(
        "mnrl",
        "--loss",
        help="mnrl (MultipleNegativesRankingLoss), cached-mnrl (its large-batch, bounded-memory "
        "variant) or margin-mse (on the scores of --teacher or --teacher-run).",
    ),
    teacher: str = typer.Option(
        None,
        "--teacher",
        help="A teacher, as `aptrank teach` takes it (ce:<model>, trained:<backbone>, "
        "ranker:<pipeline>, ensemble(...), llm:..., http:...): it scores every training pair "
        "(labels kept in teach's store, so a killed run resumes); a candidate it scores >= the "
        "positive's score - --teacher-margin is dropped as a likely unjudged positive, and "
        "--loss margin-mse trains on its margins.",
    ),
    teacher_margin: float = typer.Option(
        0.0, "--teacher-margin", help="With --teacher: see there (on the teacher's scale)."
    ),
    synthetic: int = typer.Option(
        0,
        "--synthetic",
        min=0,
        help="GPL: also train on synthetic queries written for this many sampled documents by "
        "--generator (shared with `aptrank teach`), each positive for its source document; "
        "needs --teacher. With fewer than 30 judged queries, trains on those alone.",
    ),
    generator: str = typer.Option(
        "smollm2", "--generator", help="The local LM writing --synthetic queries."
    ),
    teacher_run: Path = typer.Option(
        None,
        "--teacher-run",
        help="A TREC run of a teacher's scores (e.g. from `aptrank rank`), for --loss "
        "margin-mse: pairs and candidates it does not score are left out.",
    ),
    negatives: int = typer.Option(
        1, "--negatives", min=0, help="Mined hard negatives per (query, relevant document)."
    ),
    miners: str = typer.Option(
        "bm25,dense", "--miners", help="Where negatives come from: bm25 and/or dense (the base)."
    ),
    mine_k: int = typer.Option(30, "--mine-k", min=1, help="Candidates per miner and query."),
    margin: float = typer.Option(
        0.95,
        "--margin",
        help="Drop a candidate the base model scores >= this x the positive's cosine (a likely "
        "unjudged positive); 0 keeps all.",
    ),
    sampling: str = typer.Option(
        "top", "--sampling", help="top (the hardest kept) or random (seeded) negatives."
    ),
    epochs: float = typer.Option(1.0, "--epochs", min=0.01),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Overrides --epochs."),
    batch_size: int = typer.Option(32, "--batch-size", min=1),
    mini_batch_size: int = typer.Option(32, "--mini-batch-size", min=1, help="cached-mnrl only."),
    learning_rate: float = typer.Option(2e-5, "--learning-rate", "--lr"),
    max_length: int = typer.Option(256, "--max-length", min=8),
    save_steps: int = typer.Option(100, "--save-steps", min=1, help="Checkpoint interval."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, fp16 or bf16."),
    dev_size: int = typer.Option(100, "--dev-size", min=1, help="Training queries held out."),
    seed: int = typer.Option(0, "--seed"),
    evaluate: bool = typer.Option(
        True,
        "--eval/--no-eval",
        help="Measure on the dev slice and --eval-split (encodes the "
        "corpus with the new model: minutes on a CPU).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace another run's model."),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Fine-tune a bi-encoder on the training judgments with mined hard negatives, and write it
    as a trained ranker measured on a dev slice and the evaluation split."""
    from aptrank.cli._common import progress_bars, say, set_engine, setup_logging
    from aptrank.data.runs import read_trec_run
    from aptrank.errors import AptrankError
    from aptrank.train.finetune import FinetuneConfig
    from aptrank.train.finetune import finetune as run_finetune

    setup_logging(verbose)
    set_engine(engine, ray_address)
    if teacher_run is not None and teacher is not None:
        raise AptrankError("give --teacher or --teacher-run, not both")
    if teacher_run is not None and loss != "margin-mse":
        raise AptrankError("--teacher-run goes with --loss margin-mse")
    if loss == "margin-mse" and teacher_run is None and teacher is None:
        raise AptrankError("--loss margin-mse needs --teacher or --teacher-run")
    config = FinetuneConfig(
        dataset=dataset,
        base=base,
        split=split,
        dev_size=dev_size,
        seed=seed,
        loss=loss,
        mini_batch_size=mini_batch_size,
        negatives=negatives,
        miners=tuple(m.strip() for m in miners.split(",") if m.strip()),
        mine_k=mine_k,
        margin=margin or None,
        teacher=teacher,
        teacher_margin=teacher_margin,
        synthetic_docs=synthetic,
        generator=generator,
        negative_sampling=sampling,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        save_steps=save_steps,
        precision=precision,
        eval_split=eval_split,
    )
    teacher = read_trec_run(teacher_run) if teacher_run is not None else None
    with progress_bars(progress) as bars:
        result = run_finetune(
            config,
            out,
            progress=bars if progress else None,
            evaluate=evaluate,
            teacher_labels=teacher,
            overwrite=overwrite,
        )
    sizes, train = result["sizes"], result["train"]
    state = "reused (already trained)" if train["reused"] else f"{train['global_step']} steps"
    also = f" and {sizes['synthetic_queries']} synthetic" if sizes.get("synthetic_queries") else ""
    say(
        f"trained on {sizes['examples']} examples from {sizes['fit_queries']} {split} queries"
        f"{also} ({state}); {sizes['dev_queries']} dev queries held out"
    )
    base_dev = result["base_model_figures"].get("dev", {}).get("ndcg@10")
    for label, f in result["figures"].items():
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in f.items() if "@" in k)
        than = f" (base model {base_dev:.4f})" if label == "dev" and base_dev is not None else ""
        say(f"{label} ({f['split']}, {f['queries']} queries): {metrics}{than}")
    say(f"written {result['record']}")
    say(f"use it as a pipeline (the folder is one): '{result['pipeline']}'")
