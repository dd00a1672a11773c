"""Judgment (qrels) files: BEIR TSV or TREC, read into ``{query_id: {doc_id: grade}}``.

Two formats, told apart by content, whatever the file's extension:

- BEIR: ``query-id<TAB>corpus-id<TAB>score``, tab-separated (ids may contain spaces), with an
  optional ``query-id corpus-id score`` header line;
- TREC: ``qid iteration docid grade``, separated by any whitespace (the iteration is ignored).

A file whose first line is the BEIR header, or whose first data line has three tab-separated
fields, is BEIR; one whose first data line has four whitespace-separated fields is TREC. Every
other line must then follow the same format.

Grades are integers; ``0`` means judged and wrong and is kept. A decimal with nothing after the
point (``"2.0"``) is read as that integer, anything else (``"1.5"``, ``"x"``) is an error. The
same judgment written twice with the same grade is kept once and counted in a warning; written
twice with different grades it is an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from aptrank.data.records import iter_lines
from aptrank.errors import DataError
from aptrank.types import Qrels

logger = logging.getLogger(__name__)

BEIR_HEADER = ("query-id", "corpus-id", "score")
_GRADE = re.compile(r"[+-]?[0-9]+(?:\.0*)?")

# The line of every judgment, to place errors found after reading (unknown ids).
JudgmentLines = dict[tuple[str, str], int]


def load_qrels(path: str | Path) -> Qrels:
    """Read a BEIR-TSV or TREC qrels file: ``{query_id: {doc_id: grade}}``, grade 0 kept."""
    return read_qrels(path)[0]


def read_qrels(path: str | Path) -> tuple[Qrels, JudgmentLines]:
    """Like :func:`load_qrels`, also returning the line of each ``(query_id, doc_id)``."""
    path = Path(path)
    qrels: Qrels = {}
    lines: JudgmentLines = {}
    fmt: str | None = None
    repeated = 0
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        if fmt is None:
            fmt = _detect(line, path, lineno)
            if fmt == "beir-header":
                fmt = "beir"
                continue
        qid, docid, grade = _split(line, fmt, path, lineno)
        first = lines.get((qid, docid))
        if first is not None:
            if qrels[qid][docid] != grade:
                reason = (
                    f"query {qid!r} judges document {docid!r} {grade}, "
                    f"but {qrels[qid][docid]} on line {first}"
                )
                raise DataError(reason, path, lineno)
            repeated += 1
            continue
        lines[qid, docid] = lineno
        qrels.setdefault(qid, {})[docid] = grade
    if not qrels:
        raise DataError("no judgments in the qrels file", path)
    if repeated:
        logger.warning(
            "%d judgments in %s are repeated with the same grade; kept once", repeated, path
        )
    return qrels, lines


def check_qrels(
    qrels: Mapping[str, Mapping[str, int]],
    doc_ids: Mapping[str, object],
    query_ids: Mapping[str, object],
    *,
    strict: bool = True,
    path: str | Path | None = None,
    lines: JudgmentLines | None = None,
    sources: tuple[str, str] = ("the queries", "the corpus"),
) -> Qrels:
    """The judgments whose query and document both exist (a new dict; inputs are not mutated).

    A judgment naming an unknown query or document is an error when ``strict`` (located by
    ``path`` and ``lines`` when given); otherwise such judgments are dropped with one counted
    warning per kind. ``sources`` names the queries and corpus files in messages.
    """
    kept: Qrels = {}
    bad_queries: dict[str, int] = {}
    bad_docs: dict[str, int] = {}
    for qid, judged in qrels.items():
        if qid not in query_ids:
            bad_queries[qid] = len(judged)
            continue
        for docid, grade in judged.items():
            if docid in doc_ids:
                kept.setdefault(qid, {})[docid] = grade
            else:
                bad_docs[docid] = bad_docs.get(docid, 0) + 1
    if strict and (bad_queries or bad_docs):
        _raise_unknown(qrels, bad_queries, bad_docs, path, lines, sources)
    _warn_dropped(bad_queries, "query ids", sources[0], path)
    _warn_dropped(bad_docs, "document ids", sources[1], path)
    if not kept:
        raise DataError("no judgments left after dropping unknown ids", path)
    return kept


def _detect(line: str, path: Path, lineno: int) -> str:
    if tuple(line.lower().split()) == BEIR_HEADER:
        return "beir-header"
    if len(line.split("\t")) == 3:
        return "beir"
    if len(line.split()) == 4:
        return "trec"
    if path.suffix.lower() == ".tsv":
        return "beir"  # let _split report the column count
    reason = (
        "not a qrels line: expected 'query-id<TAB>corpus-id<TAB>score' (BEIR) "
        "or 'qid 0 docid grade' (TREC)"
    )
    raise DataError(reason, path, lineno)


def _split(line: str, fmt: str, path: Path, lineno: int) -> tuple[str, str, int]:
    if fmt == "trec":
        fields = line.split()
        if len(fields) != 4:
            reason = f"expected 4 columns (qid 0 docid grade), found {len(fields)}"
            raise DataError(reason, path, lineno)
        qid, _, docid, grade = fields
    else:
        fields = line.split("\t")
        if len(fields) != 3:
            hint = "; no tab in the line (BEIR qrels are tab-separated)" if len(fields) == 1 else ""
            reason = (
                f"expected 3 tab-separated columns (query-id, corpus-id, score), "
                f"found {len(fields)}{hint}"
            )
            raise DataError(reason, path, lineno)
        qid, docid, grade = fields
    if not qid or not docid:
        raise DataError("empty query id or document id", path, lineno)
    return qid, docid, _grade(grade, path, lineno)


def _grade(text: str, path: Path, lineno: int) -> int:
    text = text.strip()
    if not _GRADE.fullmatch(text):
        raise DataError(f"grade {text!r} is not an integer", path, lineno)
    return int(text.split(".")[0])


def _raise_unknown(
    qrels: Mapping[str, Mapping[str, int]],
    bad_queries: dict[str, int],
    bad_docs: dict[str, int],
    path: str | Path | None,
    lines: JudgmentLines | None,
    sources: tuple[str, str],
) -> None:
    if bad_queries:
        qid = next(iter(bad_queries))
        docid = next(iter(qrels[qid]))
        what = f"query {qid!r} is not in {sources[0]}"
        counts = f"{sum(bad_queries.values())} judgments name {len(bad_queries)} unknown query ids"
    else:
        docid = next(iter(bad_docs))
        qid = next(q for q, judged in qrels.items() if docid in judged)
        what = f"document {docid!r} is not in {sources[1]}"
        counts = f"{sum(bad_docs.values())} judgments name {len(bad_docs)} unknown document ids"
    line = lines.get((qid, docid)) if lines else None
    raise DataError(f"{what} ({counts}; strict=False drops them)", path, line)


def _warn_dropped(bad: dict[str, int], kind: str, source: str, path: str | Path | None) -> None:
    if bad:
        where = f" in {path}" if path else ""
        logger.warning(
            "%d judgments%s name %d %s missing from %s; dropped (strict=False)",
            sum(bad.values()),
            where,
            len(bad),
            kind,
            source,
        )
