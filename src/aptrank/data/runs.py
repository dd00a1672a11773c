"""Run utilities: trec_eval's ordering, cutting, and TREC run files.

Ordering everywhere in aptrank is trec_eval's: score descending, ties broken by doc id descending
(string comparison). Scores are written with ``repr`` (17 significant digits, exact round trip),
so a run read back from its TREC file evaluates to the same figures and the same order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from aptrank.errors import DataError
from aptrank.types import Run


def ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """``(doc_id, score)`` pairs in trec_eval's order: score descending, then doc id descending.

    >>> ranked({"a": 1.0, "b": 2.0, "c": 1.0})
    [('b', 2.0), ('c', 1.0), ('a', 1.0)]
    """
    return sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)


def rank_order(run: Mapping[str, Mapping[str, float]]) -> dict[str, list[str]]:
    """Each query's document ids, best first (:func:`ranked`). A run's iteration order means
    nothing (a JSON cache may hold doc-id order), so whatever takes "the top n" goes through this.

    >>> rank_order({"q": {"a": 1.0, "b": 3.0, "c": 2.0}})
    {'q': ['b', 'c', 'a']}
    """
    return {q: [d for d, _ in ranked(scores)] for q, scores in run.items()}


def cut(run: Mapping[str, Mapping[str, float]], k: int) -> Run:
    """The top ``k`` documents of every query, in trec_eval's order (a new run)."""
    if k < 1:
        raise ValueError(f"cut depth must be >= 1, got {k}")
    return {qid: dict(ranked(scores)[:k]) for qid, scores in run.items()}


def write_trec_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str) -> Path:
    """Write ``run`` as a TREC run file (``qid Q0 docid rank score tag``), every query in
    trec_eval's order, scores at full precision. Ids with whitespace cannot be written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = "".join(tag.split()) or "aptrank"
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for qid in sorted(run):
            _check_token(qid, "query id", path)
            for rank, (docid, score) in enumerate(ranked(run[qid]), start=1):
                _check_token(docid, "doc id", path)
                f.write(f"{qid} Q0 {docid} {rank} {float(score)!r} {tag}\n")
    tmp.replace(path)
    return path


def write_jsonl_run(
    run: Mapping[str, Mapping[str, float]], query_ids: Iterable[str], path: Path
) -> Path:
    """Write one JSON line per query of ``query_ids`` (in that order; a query the run lacks gets
    no results), its documents in trec_eval's order with ranks 1..n. The file is written beside
    ``path`` and renamed onto it, so a reader never sees half a run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for qid in query_ids:
                pairs = ranked(run.get(qid, {}))
                results = [
                    {"doc_id": doc_id, "score": float(score), "rank": rank}
                    for rank, (doc_id, score) in enumerate(pairs, start=1)
                ]
                f.write(json.dumps({"query_id": qid, "results": results}) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_trec_run(path: str | Path) -> Run:
    """Read a TREC run file (6 whitespace-separated columns); errors name the file and line."""
    path = Path(path)
    run: Run = {}
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                cols = line.split()
                if len(cols) != 6:
                    raise DataError(
                        f"expected 6 columns (qid Q0 docid rank score tag), found {len(cols)}",
                        path,
                        lineno,
                    )
                qid, _, docid, _, score, _ = cols
                try:
                    value = float(score)
                except ValueError:
                    raise DataError(f"score {score!r} is not a number", path, lineno) from None
                if docid in run.setdefault(qid, {}):
                    raise DataError(
                        f"document {docid!r} listed twice for query {qid!r}", path, lineno
                    )
                run[qid][docid] = value
    except UnicodeDecodeError as e:
        raise DataError(f"not valid UTF-8 ({e.reason} at byte {e.start})", path) from None
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    return run


def _check_token(value: str, what: str, path: Path) -> None:
    if not value or any(c.isspace() for c in value):
        raise DataError(
            f"{what} {value!r} is empty or contains whitespace: not writable as TREC", path
        )
