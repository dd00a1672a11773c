"""Any aptrank ranker as a teacher: BM25, a dense model, a pipeline, a trained cross-encoder.

A teacher sees (query text, document text) pairs, but many rankers score documents *of a corpus*
(BM25 needs the corpus statistics, a dense ranker its cached embeddings). This teacher is
therefore bound to a corpus: a document text is mapped back to its id through the corpus, and
the pairs of one query are scored in one ``rerank`` call. A text that is not in the corpus gets
NaN (no label), which :func:`~aptrank.teach.labeling.label_pairs` leaves for a later run.

Cheap rankers make cheap teachers, and they are what an ensemble teacher combines with a slow,
strong one (see :mod:`aptrank.teach.teachers.ensemble`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aptrank.rankers.base import Ranker
from aptrank.rankers.cache import corpus_fingerprint
from aptrank.types import Corpus


class RankerTeacher:
    """Labels = the scores ``ranker`` (a Ranker or a pipeline string) gives the pairs."""

    def __init__(self, ranker: Ranker | str, corpus: Corpus, batch_size: int = 256) -> None:
        if isinstance(ranker, str):
            from aptrank.rankers import build_ranker

            ranker = build_ranker(ranker)
        self.ranker = ranker
        self.name = f"ranker:{ranker.name}"
        self.batch_size = batch_size
        self._corpus = corpus
        self._by_text: dict[str, str] | None = None
        self._indexed = False
        self._fingerprint: str | None = None

    def _doc_id(self, text: str) -> str | None:
        if self._by_text is None:
            self._by_text = {}
            for did, doc in self._corpus.items():
                self._by_text.setdefault(doc.full_text, did)
        return self._by_text.get(text)

    def config(self) -> dict[str, object]:
        if self._fingerprint is None:
            self._fingerprint = corpus_fingerprint(self._corpus)
        # BM25's scores depend on the corpus statistics, so the corpus is part of the label key.
        return {"name": "ranker", "ranker": self.ranker.config(), "corpus": self._fingerprint}

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not self._indexed:
            self.ranker.index(self._corpus)
            self._indexed = True
        out = np.full(len(pairs), np.nan)
        by_query: dict[str, dict[str, list[int]]] = {}
        for i, (query, doc) in enumerate(pairs):
            did = self._doc_id(doc)
            if did is not None:
                by_query.setdefault(query, {}).setdefault(did, []).append(i)
        if not by_query:
            return out
        keys = {f"q{n}": query for n, query in enumerate(by_query)}
        candidates = {k: dict.fromkeys(by_query[q], 0.0) for k, q in keys.items()}
        run = self.ranker.rerank(keys, candidates)
        for k, query in keys.items():
            for did, score in run.get(k, {}).items():
                out[by_query[query][did]] = score
        return out

    def __repr__(self) -> str:
        return f"RankerTeacher({self.ranker.name!r})"
