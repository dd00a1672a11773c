"""Finding a dataset by path or by name: the search path, the BEIR downloads, ir_datasets ids.

``load_dataset(name_or_path)`` tries, in order:

1. an existing path: the BEIR folder there;
2. ``irds:<id>``: the ir_datasets dataset (optional ``aptrank[online]``);
3. a folder of that name in a folder of the search path (``$APTRANK_DATA``, then the dataset
   cache, see :func:`aptrank.paths.data_path`);
4. a public BEIR dataset name: downloaded into the dataset cache, then loaded.

Anything else is a DataError listing the folders searched and the datasets found there.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from aptrank.data.beir import RECORD_SUFFIXES, is_beir_folder, load_beir, splits
from aptrank.data.download import BEIR_DATASETS, download_beir
from aptrank.data.irds import PREFIX, load_irds
from aptrank.data.records import open_binary
from aptrank.errors import DataError
from aptrank.paths import data_path
from aptrank.types import Dataset


class DatasetInfo(NamedTuple):
    """A dataset found on the search path; ``n_docs`` is None when not counted."""

    name: str
    path: Path
    splits: list[str]
    n_docs: int | None


def load_dataset(name_or_path: str | Path, split: str = "test", *, strict: bool = True) -> Dataset:
    """Load a dataset by path, search-path name, ``irds:`` id or public BEIR name (see module)."""
    text = str(name_or_path)
    if Path(text).exists():
        return load_beir(text, split, strict=strict)
    if text.startswith(PREFIX):
        return load_irds(text, split, strict=strict)
    folder = find_dataset(text)
    if folder is None and text in BEIR_DATASETS:
        folder = download_beir(text)
    if folder is None:
        raise DataError(_not_found_message(text))
    return load_beir(folder, split, strict=strict)


def find_dataset(name: str) -> Path | None:
    """The first folder named ``name`` holding a BEIR corpus on the search path, or None."""
    if not name or Path(name).name != name or name in (".", ".."):
        return None  # a path, not a name: it did not exist
    for root in data_path():
        if is_beir_folder(root / name):
            return root / name
    return None


def list_datasets(count_docs: bool = True) -> list[DatasetInfo]:
    """The BEIR folders in the search path folders, in search order (a name found in two folders
    is listed twice; the first one is what ``load_dataset`` loads). Corpora are not parsed:
    ``n_docs`` counts the non-blank lines of a JSONL corpus, and is None otherwise."""
    found: list[DatasetInfo] = []
    for root in data_path():
        if not root.is_dir():
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if is_beir_folder(folder):
                n_docs = _count_docs(folder) if count_docs else None
                found.append(DatasetInfo(folder.name, folder, splits(folder), n_docs))
    return found


def _count_docs(folder: Path) -> int | None:
    for suffix in RECORD_SUFFIXES:
        corpus = folder / f"corpus{suffix}"
        if corpus.is_file():
            if not suffix.startswith(".jsonl"):
                return None
            with open_binary(corpus) as f:
                return sum(1 for line in f if line.strip())
    return None


def _not_found_message(name: str) -> str:
    searched = [str(root) for root in data_path()]
    names = sorted({info.name for info in list_datasets(count_docs=False)})
    return (
        f"dataset {name!r} not found: not an existing path, and no such folder in "
        f"{', '.join(searched)} (searched via $APTRANK_DATA and the cache); "
        f"datasets found there: {', '.join(names) or 'none'}; "
        f"downloadable BEIR names: {', '.join(BEIR_DATASETS)}"
    )
