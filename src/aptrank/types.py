"""The plain data types at aptrank's boundary.

Judgments and runs are the nested dicts ranx, ir_measures and pytrec_eval use:
``Qrels = {query_id: {doc_id: grade}}`` (grade 0 = judged and wrong, not unknown) and
``Run = {query_id: {doc_id: score}}``. Ids are opaque strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Doc:
    """A corpus item. ``title`` may be empty; extra fields of the source record go to ``meta``."""

    text: str
    title: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def full_text(self) -> str:
        """Title and text joined by a space, as BEIR's reference models encode them."""
        return f"{self.title} {self.text}" if self.title else self.text


@dataclass(frozen=True)
class Query:
    """A query. Extra fields of the source record go to ``meta``."""

    text: str
    meta: Mapping[str, Any] = field(default_factory=dict)


Corpus = dict[str, Doc]
Queries = dict[str, Query]


@dataclass(frozen=True)
class Dataset:
    """A corpus, its queries and the judgments of one split."""

    name: str
    corpus: Corpus
    queries: Queries
    qrels: Qrels
    split: str | None = None
    path: str | None = None

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, docs={len(self.corpus)}, "
            f"queries={len(self.queries)}, judged_queries={len(self.qrels)})"
        )

    def judged_queries(self) -> Queries:
        """The queries that have judgments in this split (the ones that are evaluated)."""
        return {qid: self.queries[qid] for qid in self.qrels if qid in self.queries}
