"""The two jobs of benchmarks/scale.py and their inputs (a helper; run scale.py itself).

Each job runs from a cold cache (a fresh APTRANK_CACHE, removed after it) on the engine the
caller selected, and returns its output with the job's figures from ``aptrank.scale``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "all-MiniLM-L6-v2"
TEACHER_MAX_LENGTH = 256
TEACHER_BATCH = 32


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


@contextmanager
def cold_cache() -> Iterator[Path]:
    """A fresh APTRANK_CACHE for the block (removed after it)."""
    saved = os.environ.get("APTRANK_CACHE")
    folder = Path(tempfile.mkdtemp(prefix="aptrank-scale-"))
    os.environ["APTRANK_CACHE"] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("APTRANK_CACHE", None)
        else:
            os.environ["APTRANK_CACHE"] = saved
        shutil.rmtree(folder, ignore_errors=True)


def inputs(args: argparse.Namespace) -> tuple[Any, list[str], list[tuple[str, str, str, str]]]:
    """The dataset (its corpus cut to ``--docs`` in quick runs), the labelled queries, and the
    (query, document) pairs: BM25's top ``--depth`` of each."""
    from aptrank.data import load_dataset
    from aptrank.rankers import build_ranker
    from aptrank.types import Dataset

    ds = load_dataset("scifact", "test")
    qids = sorted(ds.qrels)[: args.queries or None]
    if args.docs:
        judged = [d for q in qids for d in sorted(ds.qrels[q]) if d in ds.corpus]
        keep = list(dict.fromkeys([*judged, *sorted(ds.corpus)]))[: args.docs]
        corpus = {d: ds.corpus[d] for d in sorted(keep)}
        qrels = {q: {d: g for d, g in ds.qrels[q].items() if d in corpus} for q in qids}
        qrels = {q: j for q, j in qrels.items() if j}
        ds = Dataset(ds.name + f"-{len(corpus)}", corpus, ds.queries, qrels, ds.path)
        qids = [q for q in qids if q in qrels]
    queries = {q: ds.queries[q].text for q in qids}
    run = build_ranker("bm25").index(ds.corpus).rank(queries, args.depth)
    pairs = [
        (q, ds.queries[q].text, d, ds.corpus[d].full_text)
        for q in qids
        for d, _ in sorted(run[q].items(), key=lambda x: (-x[1], x[0]))[: args.depth]
    ]
    return ds, qids, pairs


def encode(corpus: Any, chunk_size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """One cold encoding of ``corpus``: its embeddings and the job's figures."""
    from aptrank.rankers.dense import DenseConfig, DenseRanker
    from aptrank.scale import job_history

    with cold_cache():
        start = time.perf_counter()
        ranker = DenseRanker(DenseConfig(model=MODEL, chunk_size=chunk_size)).index(corpus)
        wall = time.perf_counter() - start
        emb = np.array(ranker.embeddings)
    job = job_history()[-1]
    sent = sum(len(doc.full_text.encode()) for doc in corpus.values()) + emb.nbytes
    figures = {"wall_s": wall, "job": job.to_dict(), "items": len(corpus)}
    return emb, {**figures, "bytes_per_batch": sent / max(1, job.batches)}


def label(pairs: list[tuple[str, str, str, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One cold labelling of ``pairs``: the labels and the job's figures."""
    from aptrank.scale import job_history
    from aptrank.teach import LabelStore, label_pairs
    from aptrank.teach.teachers.cross_encoder import (
        CrossEncoderTeacher,
        CrossEncoderTeacherConfig,
    )

    config = CrossEncoderTeacherConfig(
        MODEL, max_length=TEACHER_MAX_LENGTH, batch_size=TEACHER_BATCH
    )
    with cold_cache() as cache, LabelStore(cache / "labels.db") as store:
        start = time.perf_counter()
        stats = label_pairs(CrossEncoderTeacher(config), store, pairs)
        wall = time.perf_counter() - start
        labels = store.get(stats.teacher)
    job = job_history()[-1]
    sent = sum(len("".join(p).encode()) + 8 for p in pairs)  # the pairs out, a float64 back
    figures = {"wall_s": wall, "job": job.to_dict(), "items": len(pairs)}
    return labels, {**figures, "bytes_per_batch": sent / max(1, job.batches)}
