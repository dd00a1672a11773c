"""``aptrank teach`` and ``aptrank distill``: label with a strong teacher, train a small student."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION
from aptrank.teach.workflow import DEFAULT_TEACHER

TEACHER_HELP = (
    "trained:<backbone> (a cross-encoder trained on the training judgments), ce:<model>, "
    "llm:<model> (smollm2, qwen), http:<url>#<model>, ranker:<pipeline>, or "
    "ensemble(<teacher>,<teacher>,...) with weights fit on the dev slice."
)


#: teach's and distill's --teacher (one option object serves both commands)
TEACHER_OPTION = typer.Option(DEFAULT_TEACHER, "--teacher", "-t", help=TEACHER_HELP)

#: The options ``teach`` and ``distill`` share, named as TeachConfig's fields.
TEACH_OPTIONS = (
    "dataset",
    "teacher",
    "synthetic_docs",
    "generator",
    "dev_size",
    "depth",
    "train_split",
    "eval_split",
    "seed",
)


def _teach_config(values: dict[str, Any], **extra: Any) -> Any:
    """A TeachConfig from a command's parameters (its ``locals()``)."""
    from aptrank.teach.workflow import TeachConfig, TeacherTraining

    training = TeacherTraining(max_length=values["max_length"])
    options = {k: values[k] for k in TEACH_OPTIONS}
    return TeachConfig(max_length=training.max_length, training=training, **options, **extra)


def teach(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    teacher: str = TEACHER_OPTION,
    synthetic_docs: int = typer.Option(
        800, "--synthetic-docs", min=0, help="Corpus documents to write synthetic queries for."
    ),
    generator: str = typer.Option("smollm2", "--generator", help="Local LM writing the queries."),
    dev_size: int = typer.Option(100, "--dev-size", min=1, help="Training queries held out."),
    depth: int = typer.Option(30, "--depth", min=1, help="First-stage documents reranked."),
    max_length: int = typer.Option(256, "--max-length", min=16, help="Tokens per pair."),
    train_split: str = typer.Option("train", "--train-split"),
    eval_split: str = typer.Option("test", "--split", "-s", help="Split the teacher is scored on."),
    seed: int = typer.Option(0, "--seed"),
    export: Path = typer.Option(
        None, "--export", help="Also write the teacher's labels to a .jsonl or .parquet file."
    ),
    import_labels: list[Path] = typer.Option(
        [],
        "--import-labels",
        help="Add an exported label file (.jsonl/.parquet, e.g. labeled on a GPU machine) to the "
        "label store first; its labels are not computed again. Repeatable.",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Result folder (default: runs/...)."),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Teach: fit/measure a teacher on a dev slice of the training queries, write synthetic
    queries from the corpus, mine their candidates and label them into the durable label store
    (resumable: run it again after an interruption)."""
    from aptrank.cli._common import default_out, progress_bars, say, set_engine, setup_logging
    from aptrank.experiment import write_json
    from aptrank.teach.workflow import teach as run_teach

    setup_logging(verbose)
    set_engine(engine, ray_address)
    config = _teach_config(locals(), export=str(export) if export else None)
    folder = out or default_out("teach", dataset)
    with progress_bars(progress) as bars:
        result = run_teach(
            config, progress=bars, imports=import_labels, models_dir=folder / "models"
        )
    for file, added in result["imported"].items():
        say(f"imported {added} new labels from {file}")
    path = write_json(folder / "teach.json", result)
    t = result["teacher"]
    say(
        f"teacher {t['teacher']}: dev NDCG@10 {t['dev_ndcg10']:.4f} "
        f"(first stage {t['first_stage_dev_ndcg10']:.4f})"
    )
    if t["test_ndcg10"] is not None:
        say(
            f"  {eval_split} NDCG@10 {t['test_ndcg10']:.4f} "
            f"(first stage {t['first_stage_test_ndcg10']:.4f})"
        )
    s = result["synthetic"]
    say(f"synthetic: {s['queries']} queries, {s['pairs']} labeled pairs; results in {path}")
    if result.get("exported"):
        say(f"labels exported to {result['exported']}")
    for model in result["models"].values():
        say(f"the teacher as a ranker (the folder is a pipeline string): {model}")


def distill(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    teacher: str = TEACHER_OPTION,
    student: str = typer.Option("all-MiniLM-L6-v2", "--student", help="Student backbone."),
    sizes: str = typer.Option(
        "0,50,100,200", "--sizes", help="Synthetic queries per curve point (0: human only)."
    ),
    loss: str = typer.Option("margin-mse", "--loss", help="margin-mse or bce (soft labels)."),
    epochs: float | None = typer.Option(
        None,
        "--epochs",
        min=0.01,
        help="Student epochs (default: DistillConfig's, 3; a human-only point trains 1).",
    ),
    per_query: int | None = typer.Option(
        None, "--per-query", min=1, help="Teacher examples per synthetic query (DistillConfig's)."
    ),
    negatives: str = typer.Option(
        "random",
        "--negatives",
        help="How the human pairs' hard negatives come from the first stage's top --depth: "
        "random (drawn from all of it, seeded) or top (its best-ranked wrong documents).",
    ),
    human: bool = typer.Option(
        True,
        "--human/--no-human",
        help="Add the human judgments of the training queries (BCE); --no-human trains on the "
        "teacher's labels of the synthetic queries only.",
    ),
    margin_norm: str = typer.Option(
        "std",
        "--margin-norm",
        help="Teacher margins for Margin-MSE: std (scaled to unit spread) or none (as given).",
    ),
    synthetic_docs: int = typer.Option(800, "--synthetic-docs", min=0),
    generator: str = typer.Option("smollm2", "--generator"),
    dev_size: int = typer.Option(100, "--dev-size", min=1),
    depth: int = typer.Option(30, "--depth", min=1),
    max_length: int = typer.Option(256, "--max-length", min=16),
    train_split: str = typer.Option("train", "--train-split"),
    eval_split: str = typer.Option("test", "--split", "-s"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Result folder (default: runs/...): distill.json, and every student as a trained "
        "ranker under models/student-<size>/ (the folder is a pipeline string).",
    ),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Distill: train a small cross-encoder student per curve point on the teacher's labels
    (plus the human judgments), select on the dev slice, score on the evaluation split."""
    from aptrank.cli._common import default_out, progress_bars, say, set_engine, setup_logging
    from aptrank.errors import AptrankError
    from aptrank.experiment import write_json
    from aptrank.train.distill import DistillConfig
    from aptrank.train.distill import distill as run_distill

    setup_logging(verbose)
    set_engine(engine, ray_address)
    try:
        points = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise AptrankError(f"--sizes must be comma-separated integers, got {sizes!r}") from None
    if not points or min(points) < 0:
        raise AptrankError(f"--sizes needs non-negative sizes, got {sizes!r}")
    config = DistillConfig(
        teach=_teach_config(locals()),
        student=student,
        sizes=points,
        loss=loss,
        human=human,
        human_sampling=negatives,
        margin_norm=margin_norm,
        max_length=max_length,
        seed=seed,
    )
    # unset options keep DistillConfig's defaults (the dev-chosen recipe)
    recipe: dict[str, Any] = {"epochs": epochs, "per_query": per_query}
    config = replace(config, **{k: v for k, v in recipe.items() if v is not None})
    folder = out or default_out("distill", dataset)
    with progress_bars(progress) as bars:
        result = run_distill(config, progress=bars, models_dir=folder / "models")
    path = write_json(folder / "distill.json", result)
    for size, s in result["students"].items():
        say(
            f"student {size:>5}: dev NDCG@10 {s['dev_ndcg10']:.4f}, "
            f"{eval_split} {s['test_ndcg10']:.4f}"
        )
    sel = result["selected"]
    say(f"selected on dev: {sel['size']} synthetic queries -> {sel['model']}")
    system = result.get("student_system")
    if system:
        with_s, without = system["student_system"], system["without_student"]
        say(
            f"student system (the teacher's cheap members + the student): {eval_split} NDCG@10 "
            f"{with_s['ndcg@10']:.4f} against {without['ndcg@10']:.4f} without the student "
            f"(paired t-test p = {system['paired_t_test']['p_value']:.3g}) -> {with_s['pipeline']}"
        )
    say(f"use it as a pipeline (the folder is one): '{sel['model']}'; results in {path}")
