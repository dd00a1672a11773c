"""BM25 through bm25s, with a Snowball stemmer and stopwords; the index is cached on disk."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from aptrank.data.runs import cut
from aptrank.paths import cache_dir
from aptrank.rankers.base import Ranker
from aptrank.rankers.cache import atomic_folder, corpus_fingerprint, key
from aptrank.types import Corpus, Run

logger = logging.getLogger(__name__)


def _import_bm25s():  # type: ignore[no-untyped-def]
    import bm25s

    # bm25s sets its own logger to DEBUG on import, which floods any handler; undo that.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@dataclass(frozen=True)
class BM25Config:
    """BM25 parameters (bm25s defaults; the Lucene variant)."""

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    stemmer: str | None = "english"  #: a PyStemmer language, or None
    stopwords: str | None = "en"  #: a bm25s stopword list name, or None


class BM25Ranker(Ranker):
    """BM25 over title + text. ``index`` loads a cached index when the corpus is unchanged."""

    def __init__(self, config: BM25Config | None = None, show_progress: bool = False) -> None:
        super().__init__()
        self.cfg = config or BM25Config()
        self.name = "bm25"
        self.show_progress = show_progress
        self._retriever: Any = None
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}

    def config(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self.cfg)}

    def _tokenize(self, texts: list[str], return_ids: bool = True):  # type: ignore[no-untyped-def]
        bm25s = _import_bm25s()

        stemmer = None
        if self.cfg.stemmer:
            import Stemmer

            stemmer = Stemmer.Stemmer(self.cfg.stemmer)
        return bm25s.tokenize(
            texts,
            stopwords=self.cfg.stopwords,
            stemmer=stemmer,
            return_ids=return_ids,
            show_progress=False,
        )

    def index(self, corpus: Corpus) -> BM25Ranker:
        bm25s = _import_bm25s()
        super().index(corpus)
        self._ids = sorted(corpus)
        self._pos = {d: i for i, d in enumerate(self._ids)}
        folder = cache_dir("bm25") / key(
            corpus_fingerprint(corpus), asdict(self.cfg), bm25s.__version__
        )
        if (folder / "params.index.json").exists():
            self._retriever = bm25s.BM25.load(str(folder), show_progress=False)
            logger.info("loaded BM25 index from %s", folder)
            return self
        tokens = self._tokenize([corpus[d].full_text for d in self._ids])
        retriever = bm25s.BM25(k1=self.cfg.k1, b=self.cfg.b, method=self.cfg.method)
        retriever.index(tokens, show_progress=self.show_progress)
        with atomic_folder(folder) as tmp:
            retriever.save(str(tmp), show_progress=False)
            meta = {"config": self.config(), "docs": len(self._ids)}
            (tmp / "aptrank.json").write_text(json.dumps(meta))
        self._retriever = retriever
        logger.info("built BM25 index over %d documents in %s", len(self._ids), folder)
        return self

    def _query_tokens(self, queries: Mapping[str, str]) -> tuple[list[str], list[list[str]]]:
        qids = list(queries)
        tokens = self._tokenize([queries[q] for q in qids], return_ids=False)
        vocab = self._retriever.vocab_dict
        return qids, [[t for t in toks if t in vocab] for toks in tokens]

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        self.corpus  # noqa: B018 - raises if not indexed
        qids, tokens = self._query_tokens(queries)
        run: Run = {qid: {} for qid in qids}
        todo = [i for i, toks in enumerate(tokens) if toks]
        if todo:
            k_eff = min(k, len(self._ids))
            docs, scores = self._retriever.retrieve(
                [tokens[i] for i in todo], k=k_eff, show_progress=self.show_progress, n_threads=1
            )
            for row, i in enumerate(todo):
                run[qids[i]] = {
                    self._ids[d]: float(s) for d, s in zip(docs[row], scores[row]) if s > 0
                }
        return cut(run, k) if any(run.values()) else run

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        self.corpus  # noqa: B018
        qids, tokens = self._query_tokens({q: queries[q] for q in candidates})
        run: Run = {}
        for qid, toks in zip(qids, tokens):
            cand = [d for d in candidates[qid] if d in self._pos]
            scores = (
                self._retriever.get_scores(toks)
                if toks
                else np.zeros(len(self._ids), dtype=np.float32)
            )
            run[qid] = {d: float(scores[self._pos[d]]) for d in cand}
        return run
