"""Writers of small BEIR folders for the data tests (and the CLI tests that reuse them).

``write_beir`` writes a valid folder; each part can be replaced: a list of records (JSON objects,
or any JSON value) or judgment tuples is serialized, a ``str``/``bytes`` is written verbatim, and
``None`` leaves the file out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CORPUS: list[dict[str, Any]] = [
    {"_id": "d1", "title": "Apples", "text": "Apples are red fruit."},
    {"_id": "d2", "title": "", "text": "Pears are green fruit."},
    {"_id": "d3", "title": "Cars", "text": "Cars have four wheels."},
]
QUERIES: list[dict[str, Any]] = [
    {"_id": "q1", "text": "red fruit"},
    {"_id": "q2", "text": "wheels"},
]
# Lines 2, 3 and 4 of qrels/test.tsv (line 1 is the header).
QRELS: list[tuple[str, str, Any]] = [("q1", "d1", 1), ("q1", "d2", 0), ("q2", "d3", 2)]

Part = Sequence[Any] | str | bytes | None


def jsonl(records: Sequence[Any]) -> str:
    """Records as JSONL text, one per line."""
    return "".join(json.dumps(r) + "\n" for r in records)


def beir_qrels(rows: Sequence[tuple[Any, ...]], header: bool = True) -> str:
    """Judgment tuples as BEIR TSV text, with the ``query-id corpus-id score`` header."""
    lines = ["query-id\tcorpus-id\tscore"] if header else []
    lines += ["\t".join(str(c) for c in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_file(path: Path, content: str | bytes) -> Path:
    """Write text (as UTF-8) or bytes to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)
    return path


def write_beir(
    folder: Path,
    corpus: Part = CORPUS,
    queries: Part = QUERIES,
    qrels: Part = QRELS,
    split: str = "test",
    corpus_name: str = "corpus.jsonl",
    queries_name: str = "queries.jsonl",
) -> Path:
    """Write a BEIR folder into ``folder`` (see the module docstring) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    parts: list[tuple[Path, Part, Callable[[Any], str]]] = [
        (folder / corpus_name, corpus, jsonl),
        (folder / queries_name, queries, jsonl),
        (folder / "qrels" / f"{split}.tsv", qrels, beir_qrels),
    ]
    for path, part, serialize in parts:
        if part is not None:
            write_file(path, part if isinstance(part, str | bytes) else serialize(part))
    return folder
