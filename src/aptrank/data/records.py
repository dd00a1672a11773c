"""Corpus and queries files: JSONL or CSV records, validated line by line.

A record has an id (``_id``, or ``id`` when there is no ``_id``), a ``text`` and, for documents,
an optional ``title``; every other field is kept in ``meta``. The rules, each broken rule a
:class:`~aptrank.errors.DataError` naming the file, the line and the reason:

- the file is UTF-8 (a BOM at its start is tolerated; ``.gz`` files are decompressed);
- JSONL: one JSON object per line, blank lines skipped;
- CSV (``.csv``, or tab-separated ``.tsv``): a header naming ``_id`` (or ``id``) and ``text``,
  optionally ``title``; every row has as many fields as the header;
- ids are opaque strings (any characters, spaces included) and must be non-empty and unique;
  JSON integers are accepted and converted (``123`` -> ``"123"``), while floats, booleans,
  ``null``, arrays and objects are rejected, because their string form is ambiguous;
- ``text`` is present and a string; ``title`` is a string, or missing/``null`` (read as ``""``);
- a corpus and a queries file hold at least one record.

A document with neither title nor text is kept and counted in one warning; a query with empty text
is an error, since there is nothing to rank for it.

A queries file given to rank (:func:`load_query_file`) may also be a plain ``.tsv`` of
``id<TAB>text`` lines, as MS MARCO and TREC topic files are: no quoting, exactly two fields per
line, and an optional header line ``_id``/``id``/``query-id``/``qid`` then ``text``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aptrank.errors import DataError
from aptrank.types import Corpus, Doc, Queries, Query

logger = logging.getLogger(__name__)

Record = dict[str, Any]


def load_corpus(path: str | Path) -> Corpus:
    """Read documents from a JSONL or CSV file: ``{doc_id: Doc(text, title, meta)}``."""
    path = Path(path)
    corpus: Corpus = {}
    first_line: dict[str, int] = {}
    empty = 0
    for lineno, record in iter_records(path):
        doc_id = _take_id(record, path, lineno, first_line)
        text = _take_text(record, path, lineno)
        title = _take_title(record, path, lineno)
        empty += not (text or title)
        corpus[doc_id] = Doc(text=text, title=title, meta=record)
    if not corpus:
        raise DataError("corpus is empty: no documents", path)
    if empty:
        logger.warning("%d documents in %s have neither title nor text; kept", empty, path)
    return corpus


def load_queries(path: str | Path) -> Queries:
    """Read queries from a JSONL or CSV file: ``{query_id: Query(text, meta)}``."""
    path = Path(path)
    return _collect_queries(iter_records(path), path)


def load_query_file(path: str | Path) -> Queries:
    """Read queries to rank: a ``.tsv`` (or ``.tsv.gz``) file of ``id<TAB>text`` lines (see the
    module docstring), anything else as :func:`load_queries` reads it (JSONL, or CSV with a
    header). The same rules hold for ids and texts in every format."""
    path = Path(path)
    records = _iter_id_text(path) if _kind(path) == "tsv" else iter_records(path)
    return _collect_queries(records, path)


def _collect_queries(records: Iterator[tuple[int, Record]], path: Path) -> Queries:
    queries: Queries = {}
    first_line: dict[str, int] = {}
    for lineno, record in records:
        query_id = _take_id(record, path, lineno, first_line)
        text = _take_text(record, path, lineno)
        if not text.strip():
            raise DataError(f"query {query_id!r} has empty `text`", path, lineno)
        queries[query_id] = Query(text=text, meta=record)
    if not queries:
        raise DataError("queries file is empty: no queries", path)
    return queries


def iter_records(path: str | Path) -> Iterator[tuple[int, Record]]:
    """``(line number, record)`` for each record of a JSONL or CSV/TSV file (by extension)."""
    path = Path(path)
    kind = _kind(path)
    if kind == "csv":
        return _iter_csv(path, ",")
    if kind == "tsv":
        return _iter_csv(path, "\t")
    return _iter_jsonl(path)


def _kind(path: Path) -> str:
    """The format a file's name announces: its last suffix before any ``.gz`` (or ``jsonl``)."""
    suffixes = path.name.lower().removesuffix(".gz").rsplit(".", 1)
    return suffixes[-1] if len(suffixes) > 1 else "jsonl"


def iter_lines(path: str | Path, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every line, decoded as UTF-8, line ending removed unless
    ``keep_ends``.

    A BOM at the start of the file is dropped; bytes that are not UTF-8 raise a DataError naming
    the line. A missing file raises ``DataError("file not found")``.
    """
    path = Path(path)
    with open_binary(path) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                reason = f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
                raise DataError(reason, path, lineno) from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            yield lineno, line if keep_ends else line.rstrip("\r\n")


def open_binary(path: Path) -> io.BufferedIOBase:
    """Open ``path`` for reading bytes (gzip-decompressed for ``.gz``); DataError if missing."""
    try:
        if path.suffix.lower() == ".gz":
            return gzip.open(path, "rb")
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError("file not found", path) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected a file", path) from None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Record]]:
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg} (column {e.colno})", path, lineno) from None
        if not isinstance(record, dict):
            found = _json_type(record)
            raise DataError(f"expected a JSON object, found {found}", path, lineno)
        yield lineno, record


def _iter_csv(path: Path, delimiter: str) -> Iterator[tuple[int, Record]]:
    lines = (line for _, line in iter_lines(path, keep_ends=True))
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    if "text" not in header or not ({"_id", "id"} & set(header)):
        raise DataError(f"the header must name `_id` (or `id`) and `text`; found {header}", path, 1)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            reason = f"expected {len(header)} fields as in the header, found {len(row)}"
            raise DataError(reason, path, reader.line_num)
        yield reader.line_num, dict(zip(header, row))


_ID_TEXT_HEADERS = {("_id", "text"), ("id", "text"), ("query-id", "text"), ("qid", "text")}


def _iter_id_text(path: Path) -> Iterator[tuple[int, Record]]:
    """Records of a plain ``id<TAB>text`` file; a first line naming the columns is skipped."""
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if lineno == 1 and tuple(fields) in _ID_TEXT_HEADERS:
            continue
        if len(fields) != 2:
            reason = f"expected 2 tab-separated fields (id<TAB>text), found {len(fields)}"
            raise DataError(reason, path, lineno)
        yield lineno, {"_id": fields[0], "text": fields[1]}


def _take_id(record: Record, path: Path, lineno: int, first_line: dict[str, int]) -> str:
    """Pop the record's id (``_id`` or ``id``), check it, and check it is not a duplicate."""
    key = "_id" if "_id" in record or "id" not in record else "id"
    if key not in record:
        raise DataError("missing `_id`", path, lineno)
    value = record.pop(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        reason = (
            f"`{key}` must be a string or an integer, found {_json_type(value)} {_short(value)}"
        )
        raise DataError(reason, path, lineno)
    if not value.strip():
        raise DataError(f"empty `{key}`", path, lineno)
    if value in first_line:
        reason = f"duplicate id {value!r} (first on line {first_line[value]})"
        raise DataError(reason, path, lineno)
    first_line[value] = lineno
    return value


def _take_text(record: Record, path: Path, lineno: int) -> str:
    if "text" not in record:
        raise DataError("missing `text`", path, lineno)
    text = record.pop("text")
    if not isinstance(text, str):
        reason = f"`text` must be a string, found {_json_type(text)}"
        raise DataError(reason, path, lineno)
    return text


def _take_title(record: Record, path: Path, lineno: int) -> str:
    title = record.pop("title", None)
    if title is None:
        return ""
    if not isinstance(title, str):
        reason = f"`title` must be a string, found {_json_type(title)}"
        raise DataError(reason, path, lineno)
    return title


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    names.update({int: "integer", float: "float"})
    return names.get(type(value), type(value).__name__)
