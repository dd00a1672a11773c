"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

The corpus and queries may also be ``.jsonl.gz``, ``.csv`` or ``.tsv`` files of the same stem, and
a split may also be a TREC qrels file (``qrels/<split>.txt`` or ``.qrels``). The split file is
looked up first, so a wrong split fails before the corpus is read.
"""

from __future__ import annotations

from pathlib import Path

from aptrank.data.qrels import check_qrels, read_qrels
from aptrank.data.records import load_corpus, load_queries
from aptrank.errors import DataError
from aptrank.types import Dataset

RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".csv", ".tsv")
QRELS_SUFFIXES = (".tsv", ".txt", ".qrels")
LAYOUT = "a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"


def load_beir(path: str | Path, split: str = "test", *, strict: bool = True) -> Dataset:
    """Load a BEIR folder's corpus, queries and the judgments of ``split``.

    Judgments naming a query or document that does not exist are an error when ``strict``;
    with ``strict=False`` they are dropped with a counted warning.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"not a folder ({LAYOUT})", folder)
    qrels_file = split_file(folder, split)
    corpus_file = record_file(folder, "corpus")
    queries_file = record_file(folder, "queries")
    raw, lines = read_qrels(qrels_file)
    corpus = load_corpus(corpus_file)
    queries = load_queries(queries_file)
    qrels = check_qrels(
        raw,
        corpus,
        queries,
        strict=strict,
        path=qrels_file,
        lines=lines,
        sources=(queries_file.name, corpus_file.name),
    )
    return Dataset(
        name=folder.resolve().name,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split=split,
        path=str(folder),
    )


def record_file(folder: Path, stem: str) -> Path:
    """``folder/<stem>.jsonl`` (or ``.jsonl.gz``, ``.csv``, ``.tsv``); DataError if none exists."""
    for suffix in RECORD_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(f"file not found ({LAYOUT})", folder / f"{stem}.jsonl")


def split_file(folder: Path, split: str) -> Path:
    """``folder/qrels/<split>.tsv`` (or ``.txt``, ``.qrels``); DataError listing the splits."""
    for suffix in QRELS_SUFFIXES:
        candidate = folder / "qrels" / f"{split}{suffix}"
        if candidate.is_file():
            return candidate
    available = splits(folder)
    if not available:
        raise DataError(f"no qrels folder or no split in it ({LAYOUT})", folder / "qrels")
    reason = f"split {split!r} not found; available splits: {', '.join(available)}"
    raise DataError(reason, folder / "qrels" / f"{split}.tsv")


def splits(folder: str | Path) -> list[str]:
    """The split names of a BEIR folder (the qrels files' stems), sorted."""
    qrels_dir = Path(folder) / "qrels"
    if not qrels_dir.is_dir():
        return []
    found = {p.stem for p in qrels_dir.iterdir() if p.is_file() and p.suffix in QRELS_SUFFIXES}
    return sorted(found)


def is_beir_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a corpus file (cheap: nothing is read)."""
    folder = Path(folder)
    return any((folder / f"corpus{suffix}").is_file() for suffix in RECORD_SUFFIXES)
