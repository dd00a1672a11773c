"""Datasets to rank rather than evaluate: judgments are optional.

:func:`load_unjudged` finds a dataset as :func:`~aptrank.data.resolve.load_dataset` does, but a
BEIR folder without the split's qrels file (or without a qrels folder) still loads: its corpus and
every query of its queries file, with no judgments (``qrels == {}`` and ``split is None``). When
the queries to rank are given, only the corpus is read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aptrank.data.beir import load_beir, record_file, splits
from aptrank.data.download import BEIR_DATASETS, download_beir
from aptrank.data.irds import PREFIX, load_irds
from aptrank.data.records import load_corpus, load_queries
from aptrank.data.resolve import _not_found_message, find_dataset
from aptrank.errors import DataError
from aptrank.types import Dataset, Queries


def load_unjudged(
    name_or_path: str | Path, split: str = "test", *, queries: Queries | None = None
) -> Dataset:
    """A dataset's corpus and queries, with the judgments of ``split`` when it has that split.

    With ``queries``, the result holds the dataset's corpus and those queries, no judgments.
    Judgments naming unknown queries or documents are dropped with a warning (they only choose
    which queries are ranked). ``irds:`` ids load as
    :func:`~aptrank.data.resolve.load_dataset` loads them (ir_datasets ids have judgments).
    """
    text = str(name_or_path)
    if text.startswith(PREFIX) and not Path(text).exists():
        dataset = load_irds(text, split, strict=False)
        if queries is None:
            return dataset
        return dataclasses.replace(dataset, queries=queries, qrels={}, split=None)
    folder = _folder(text)
    if not folder.is_dir():
        return load_beir(folder, split)  # raises the "not a folder" DataError
    if queries is None and split in splits(folder):
        return load_beir(folder, split, strict=False)
    corpus = load_corpus(record_file(folder, "corpus"))
    if queries is None:
        queries = load_queries(record_file(folder, "queries"))
    return Dataset(
        name=folder.resolve().name,
        corpus=corpus,
        queries=queries,
        qrels={},
        split=None,
        path=str(folder),
    )


def _folder(text: str) -> Path:
    """The BEIR folder ``text`` names: a path, a name on the search path, or a public download."""
    if Path(text).exists():
        return Path(text)
    folder = find_dataset(text)
    if folder is None and text in BEIR_DATASETS:
        folder = download_beir(text)
    if folder is None:
        raise DataError(_not_found_message(text))
    return folder
