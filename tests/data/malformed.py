"""Malformed BEIR folders, one defect each, and what the error message must say.

``CASES`` is a list of ``(case_id, write, expected)``: ``write(folder)`` builds a small BEIR folder
in ``folder`` whose ``test`` split cannot be loaded, and every string of ``expected`` must appear
in the one-line message of the DataError (the file, ``:line:`` where there is one, the reason).
The data tests load each with ``load_beir``; the CLI tests run ``aptrank evaluate`` on them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .beir_fixtures import CORPUS, QRELS, QUERIES, beir_qrels, jsonl, write_beir


class Case(NamedTuple):
    case_id: str
    write: Callable[[Path], Any]
    expected: tuple[str, ...]


def _folder(**parts: Any) -> Callable[[Path], Path]:
    """A writer of the valid folder with ``parts`` replaced (see ``write_beir``)."""

    def write(folder: Path) -> Path:
        return write_beir(folder, **parts)

    return write


D1, D2 = jsonl(CORPUS[:1]), jsonl(CORPUS[1:2])  # lines 1 and 2 of a corpus
Q1 = jsonl(QUERIES[:1])


def _doc(**fields: Any) -> str:
    return jsonl([{"_id": "d2", "title": "", "text": "x", **fields}])


def _without(record: dict[str, Any], key: str) -> str:
    return jsonl([{k: v for k, v in record.items() if k != key}])


CASES: list[Case] = [
    # corpus.jsonl
    Case(
        "corpus-broken-json",
        _folder(corpus=D1 + '{"_id": "d2", "text": "x"\n'),
        ("corpus.jsonl:2:", "invalid JSON"),
    ),
    Case(
        "corpus-not-object",
        _folder(corpus=D1 + '["d2", "x"]\n'),
        ("corpus.jsonl:2:", "expected a JSON object, found array"),
    ),
    Case(
        "corpus-missing-id",
        _folder(corpus=D1 + _without(CORPUS[1], "_id")),
        ("corpus.jsonl:2:", "missing `_id`"),
    ),
    Case(
        "corpus-empty-id",
        _folder(corpus=D1 + D2 + _doc(_id="")),
        ("corpus.jsonl:3:", "empty `_id`"),
    ),
    Case(
        "corpus-float-id",
        _folder(corpus=D1 + _doc(_id=2.5)),
        ("corpus.jsonl:2:", "`_id` must be a string or an integer, found float"),
    ),
    Case("corpus-null-id", _folder(corpus=D1 + _doc(_id=None)), ("corpus.jsonl:2:", "found null")),
    Case(
        "corpus-duplicate-id",
        _folder(corpus=D1 + D2 + jsonl(CORPUS[:1])),
        ("corpus.jsonl:3:", "duplicate id 'd1'", "first on line 1"),
    ),
    Case(
        "corpus-missing-text",
        _folder(corpus=D1 + _without(CORPUS[1], "text")),
        ("corpus.jsonl:2:", "missing `text`"),
    ),
    Case(
        "corpus-text-not-string",
        _folder(corpus=D1 + _doc(text=42)),
        ("corpus.jsonl:2:", "`text` must be a string, found integer"),
    ),
    Case(
        "corpus-title-not-string",
        _folder(corpus=D1 + _doc(title=["a"])),
        ("corpus.jsonl:2:", "`title` must be a string, found array"),
    ),
    Case("corpus-empty", _folder(corpus="\n\n"), ("corpus.jsonl", "corpus is empty")),
    Case(
        "corpus-not-utf8",
        _folder(corpus=(D1 + D2).encode() + b'{"_id": "d3", "text": "\xff"}\n'),
        ("corpus.jsonl:3:", "not valid UTF-8"),
    ),
    Case(
        "corpus-csv-header",
        _folder(corpus="doc,body\nd1,x\n", corpus_name="corpus.csv"),
        ("corpus.csv:1:", "header must name `_id` (or `id`) and `text`"),
    ),
    Case(
        "corpus-csv-short-row",
        _folder(corpus="_id,title,text\nd1,,a\nd2,b\nd3,,c\n", corpus_name="corpus.csv"),
        ("corpus.csv:3:", "expected 3 fields as in the header, found 2"),
    ),
    # queries.jsonl
    Case(
        "queries-broken-json",
        _folder(queries=Q1 + "{_id: q2}\n"),
        ("queries.jsonl:2:", "invalid JSON"),
    ),
    Case(
        "queries-bool-id",
        _folder(queries=Q1 + jsonl([{"_id": True, "text": "t"}])),
        ("queries.jsonl:2:", "found boolean"),
    ),
    Case(
        "queries-duplicate-id", _folder(queries=Q1 + Q1), ("queries.jsonl:2:", "duplicate id 'q1'")
    ),
    Case(
        "queries-empty-text",
        _folder(queries=Q1 + jsonl([{"_id": "q2", "text": " "}])),
        ("queries.jsonl:2:", "query 'q2' has empty `text`"),
    ),
    Case("queries-empty", _folder(queries=""), ("queries.jsonl", "no queries")),
    Case(
        "queries-not-utf8",
        _folder(queries=b'{"_id": "q1", "text": "caf\xe9"}\n'),
        ("queries.jsonl:1:", "not valid UTF-8", "0xe9"),
    ),
    # qrels/test.tsv
    Case(
        "qrels-no-tab",
        _folder(qrels=beir_qrels(QRELS[:1]) + "q1 d2 0\n"),
        ("test.tsv:3:", "found 1; no tab in the line"),
    ),
    Case(
        "qrels-wrong-columns",
        _folder(qrels=beir_qrels([*QRELS[:1], ("q1", "d2", 0, "x")])),
        ("test.tsv:3:", "expected 3 tab-separated columns", "found 4"),
    ),
    Case(
        "qrels-decimal-grade",
        _folder(qrels=beir_qrels([("q1", "d1", "1.5")])),
        ("test.tsv:2:", "grade '1.5' is not an integer"),
    ),
    Case(
        "qrels-word-grade",
        _folder(qrels=beir_qrels([*QRELS[:2], ("q2", "d3", "x")])),
        ("test.tsv:4:", "grade 'x' is not an integer"),
    ),
    Case(
        "qrels-conflicting-grades",
        _folder(qrels=beir_qrels([*QRELS, ("q1", "d1", 2)])),
        ("test.tsv:5:", "judges document 'd1' 2, but 1 on line 2"),
    ),
    Case(
        "qrels-unknown-query",
        _folder(qrels=beir_qrels([*QRELS[:2], ("q9", "d3", 1)])),
        ("test.tsv:4:", "query 'q9' is not in queries.jsonl", "1 judgments", "strict=False"),
    ),
    Case(
        "qrels-unknown-doc",
        _folder(qrels=beir_qrels([QRELS[0], ("q1", "d9", 1), QRELS[2]])),
        ("test.tsv:3:", "document 'd9' is not in corpus.jsonl"),
    ),
    Case("qrels-empty", _folder(qrels=beir_qrels([])), ("test.tsv", "no judgments")),
    # the folder
    Case(
        "split-missing",
        _folder(split="train"),
        ("test.tsv", "split 'test' not found; available splits: train"),
    ),
    Case("qrels-folder-missing", _folder(qrels=None), ("qrels", "no qrels folder")),
    Case("corpus-missing", _folder(corpus=None), ("corpus.jsonl", "file not found")),
    Case("queries-missing", _folder(queries=None), ("queries.jsonl", "file not found")),
]
