"""``aptrank diagnose``: why a ranker fails on a task, several rankers side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from aptrank.cli._common import ENGINE_OPTION, RAY_ADDRESS_OPTION

RANKER_HELP = (
    "A ranker or pipeline string; repeat for several (default: bm25 and dense). 'bm25', 'dense' "
    "(all-MiniLM-L6-v2), 'dense:<model>', 'bm25>>ce:<model>@100', ..."
)


def diagnose(
    dataset: str = typer.Argument(..., help="A BEIR folder, or a name found through APTRANK_DATA."),
    split: str = typer.Option("test", "--split", "-s", help="The qrels split to diagnose on."),
    ranker: list[str] = typer.Option(None, "--ranker", "-r", help=RANKER_HELP),
    depth: int = typer.Option(100, "--depth", min=2, help="Documents ranked per query (top-k)."),
    out: Path = typer.Option(None, "--out", "-o", help="Result folder (default: runs/...)."),
    doc_field: list[str] = typer.Option(
        None, "--stratify-doc-field", help="Document metadata field to stratify by (repeatable)."
    ),
    query_field: list[str] = typer.Option(
        None, "--stratify-query-field", help="Query metadata field to stratify by (repeatable)."
    ),
    metric: str = typer.Option("ndcg@10", "--metric", "-m", help="Metric reported by strata."),
    resamples: int = typer.Option(1000, "--resamples", min=1, help="Bootstrap resamples per CI."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    strict: bool = typer.Option(
        True, "--strict/--lenient", help="Judgments naming unknown queries/docs: error or drop."
    ),
    engine: str = ENGINE_OPTION,
    ray_address: str | None = RAY_ADDRESS_OPTION,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Diagnose rankers: wrong-but-associated items, separability, constraint pairs, role-flip
    sensitivity and strata; writes diagnosis.json, diagnosis.md, report.html and config.json."""
    from aptrank.cli._common import default_out, progress_bars, say, set_engine, setup_logging
    from aptrank.data import load_dataset
    from aptrank.diagnose import DiagnoseConfig, check_inputs
    from aptrank.diagnose import diagnose as run_diagnosis
    from aptrank.errors import AptrankError
    from aptrank.rankers import build_ranker
    from aptrank.report.diagnosis import write_diagnosis

    setup_logging(verbose)
    set_engine(engine, ray_address)
    specs = tuple(ranker) if ranker else ("bm25", "dense")
    if len(set(specs)) != len(specs):
        raise AptrankError(f"a ranker is listed twice: {list(specs)}")
    config = DiagnoseConfig(
        dataset=dataset,
        split=split,
        rankers=specs,
        depth=depth,
        metric=metric,
        doc_fields=tuple(doc_field or ()),
        query_fields=tuple(query_field or ()),
        resamples=resamples,
        seed=seed,
    )
    rankers = {spec: build_ranker(spec) for spec in specs}  # parse every string before any work
    ds = load_dataset(dataset, split, strict=strict)
    check_inputs(ds, rankers, config)
    folder = out or default_out("diagnose", dataset)
    say(f"{ds!r}: diagnosing {len(specs)} ranker(s)")
    with progress_bars(progress) as bars:
        diagnosis = run_diagnosis(ds, rankers, config, progress=bars)
    files = write_diagnosis(diagnosis, folder, {"dataset_path": ds.path, "n_docs": len(ds.corpus)})
    for name, r in diagnosis.rankers.items():
        acc = r.sections.get("constraint_pairs")
        pairs = f"constraint pairs {acc.accuracy}" if acc is not None else "no constraint pairs"
        say(f"  {name}: {pairs}; {r.seconds['total']:.1f} s")
    say(f"results in {folder}/ ({', '.join(p.name for p in files.values())})")
