"""Loading and validating datasets: BEIR folders, TREC qrels and runs, JSONL/CSV records.

Everything here uses the standard library only (``ir_datasets`` is imported when an ``irds:`` id
is loaded). Malformed input raises :class:`~aptrank.errors.DataError` with the file, the line and
the reason; see the modules for the rules of each format.
"""

from aptrank.data.beir import load_beir, splits
from aptrank.data.dev import dev_slice
from aptrank.data.download import BEIR_DATASETS, download_beir
from aptrank.data.irds import load_irds
from aptrank.data.qrels import check_qrels, load_qrels
from aptrank.data.records import load_corpus, load_queries
from aptrank.data.resolve import DatasetInfo, find_dataset, list_datasets, load_dataset
from aptrank.data.runs import cut, rank_order, ranked, read_trec_run, write_trec_run

__all__ = [
    "BEIR_DATASETS",
    "DatasetInfo",
    "check_qrels",
    "cut",
    "dev_slice",
    "download_beir",
    "find_dataset",
    "list_datasets",
    "load_beir",
    "load_corpus",
    "load_dataset",
    "load_irds",
    "load_qrels",
    "load_queries",
    "rank_order",
    "ranked",
    "read_trec_run",
    "splits",
    "write_trec_run",
]
