"""Datasets from the optional ``ir_datasets`` package (``irds:<id>`` names).

The split is part of an ir_datasets id (``beir/scifact/test``); when the id given has no
judgments, ``<id>/<split>`` is tried. ir_datasets downloads into its own cache
(``$IR_DATASETS_HOME``), not aptrank's.
"""

from __future__ import annotations

from typing import Any

from aptrank.data.qrels import check_qrels
from aptrank.errors import DataError, MissingDependencyError
from aptrank.types import Corpus, Dataset, Doc, Qrels, Queries, Query

PREFIX = "irds:"


def load_irds(dataset_id: str, split: str = "test", *, strict: bool = True) -> Dataset:
    """Load ``dataset_id`` (with or without the ``irds:`` prefix) through ir_datasets."""
    dataset_id = dataset_id.removeprefix(PREFIX)
    try:
        import ir_datasets
    except ImportError:
        raise MissingDependencyError("loading ir_datasets ids", "ir_datasets", "online") from None
    ds = _open(ir_datasets, dataset_id)
    if not ds.has_qrels():
        dataset_id = f"{dataset_id}/{split}"
        ds = _open(ir_datasets, dataset_id)
    for part in ("docs", "queries", "qrels"):
        if not getattr(ds, f"has_{part}")():
            raise DataError(f"ir_datasets {dataset_id!r} has no {part}")
    name = f"{PREFIX}{dataset_id}"
    corpus = _corpus(ds, name)
    queries = _queries(ds, name)
    qrels = check_qrels(
        _qrels(ds, name),
        corpus,
        queries,
        strict=strict,
        path=name,
        sources=("its queries", "its documents"),
    )
    return Dataset(
        name=name,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split=dataset_id.rsplit("/", 1)[-1],
        path=None,
    )


def _open(ir_datasets: Any, dataset_id: str) -> Any:
    try:
        return ir_datasets.load(dataset_id)
    except KeyError:
        raise DataError(f"ir_datasets has no dataset {dataset_id!r}") from None


def _text(record: Any, fields: dict[str, Any]) -> str:
    """The record's ``text`` field, else its ``default_text()`` (ir_datasets >= 0.5)."""
    text = fields.pop("text", None)
    if isinstance(text, str):
        return text
    default_text = getattr(record, "default_text", None)
    return default_text() if callable(default_text) else ""


def _corpus(ds: Any, name: str) -> Corpus:
    corpus: Corpus = {}
    for doc in ds.docs_iter():
        fields = doc._asdict()
        doc_id = str(fields.pop("doc_id"))
        title = fields.pop("title", "") or ""
        corpus[doc_id] = Doc(text=_text(doc, fields), title=str(title), meta=fields)
    if not corpus:
        raise DataError("corpus is empty: no documents", name)
    return corpus


def _queries(ds: Any, name: str) -> Queries:
    queries: Queries = {}
    for query in ds.queries_iter():
        fields = query._asdict()
        query_id = str(fields.pop("query_id"))
        queries[query_id] = Query(text=_text(query, fields), meta=fields)
    if not queries:
        raise DataError("no queries", name)
    return queries


def _qrels(ds: Any, name: str) -> Qrels:
    qrels: Qrels = {}
    for judgment in ds.qrels_iter():
        qid, docid = str(judgment.query_id), str(judgment.doc_id)
        qrels.setdefault(qid, {})[docid] = int(judgment.relevance)
    if not qrels:
        raise DataError("no judgments", name)
    return qrels
