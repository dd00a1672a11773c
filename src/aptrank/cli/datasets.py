"""``aptrank datasets``: the datasets found on the search path."""

from __future__ import annotations

import typer


def datasets(
    count: bool = typer.Option(True, "--count/--no-count", help="Count each corpus's documents."),
) -> None:
    """List the BEIR folders found through APTRANK_DATA and the dataset cache."""
    from rich.table import Table

    from aptrank.cli._common import out
    from aptrank.data import list_datasets
    from aptrank.paths import data_path

    found = list_datasets(count_docs=count)
    table = Table(title="datasets", title_justify="left")
    for col in ("name", "splits", "documents", "path"):
        table.add_column(col, justify="right" if col == "documents" else "left")
    for info in found:
        docs = "" if info.n_docs is None else f"{info.n_docs:,}"
        table.add_row(info.name, ", ".join(info.splits), docs, str(info.path))
    out.print(table)
    if not found:
        searched = ", ".join(str(p) for p in data_path())
        out.print(
            f"no datasets found; searched: {searched}. Set APTRANK_DATA to folders that hold "
            "BEIR datasets (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."
        )
