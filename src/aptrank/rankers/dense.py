"""Bi-encoder retrieval: document embeddings cached on disk, exact inner-product search.

Embeddings are keyed by model (name, resolved folder and its files), backend, max length and corpus
content. They are written in chunks as they are computed, so an interrupted encoding resumes
where it stopped instead of starting over.

Two options act on the query side only, so the cached document embeddings serve them unchanged:
``query_prefix`` puts an instruction before every query text (it is part of the text the query
cache is keyed on), and ``adapter`` maps every query embedding through a trained
:class:`~aptrank.rankers.adapter.QueryAdapter` (``aptrank adapt``) after the query cache, so the
cache holds the encoder's own vectors and serves stages with and without the adapter alike.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aptrank.errors import AptrankError
from aptrank.paths import cache_dir
from aptrank.rankers.backends import check_backend
from aptrank.rankers.base import Ranker
from aptrank.rankers.cache import VectorCache, corpus_fingerprint, key, model_fingerprint
from aptrank.rankers.encoders import TextEncoder, length_order, load_encoder
from aptrank.rankers.models import DEFAULT_EMBEDDING, resolve_model
from aptrank.scale import Remote, constant, map_batches
from aptrank.types import Corpus, Run

if TYPE_CHECKING:
    from aptrank.rankers.adapter import QueryAdapter

logger = logging.getLogger(__name__)

#: Progress callback: (done, total) documents.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DenseConfig:
    model: str = DEFAULT_EMBEDDING  #: registry name, Hugging Face id or folder
    #: torch, onnx, onnx-int8, openvino, openvino-bf16 or auto (aptrank.rankers.backends)
    backend: str = "torch"
    max_length: int | None = None  #: None = the model's own (256 for all-MiniLM-L6-v2)
    batch_size: int = 64
    search: str = "exact"  #: exact (numpy) or faiss (exact inner product, faiss-cpu)
    chunk_size: int = 1024  #: documents per cached chunk (the unit of resumption)
    query_cache: bool = True  #: keep query embeddings on disk (re-runs skip encoding them)
    #: instruction put before every query text, joined by a space unless it ends in one. As a
    #: pipeline option it cannot hold a comma, brackets or ``>>``, and its ends are stripped
    query_prefix: str = ""
    #: a query adapter (``.npz`` from ``aptrank adapt``) applied to query embeddings only
    adapter: str | None = None


class DenseRanker(Ranker):
    """Cosine similarity between normalised query and document embeddings."""

    def __init__(
        self,
        config: DenseConfig | None = None,
        encoder: TextEncoder | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__()
        self.cfg = config or DenseConfig()
        if self.cfg.search not in ("exact", "faiss"):
            raise AptrankError(f"unknown search {self.cfg.search!r}: choose exact or faiss")
        check_backend(self.cfg.backend)
        self.name = _stage_name(self.cfg)
        self._adapter: QueryAdapter | None = None
        self._adapter_checked = False
        if self.cfg.adapter is not None:
            from aptrank.rankers.adapter import load_adapter

            self._adapter = load_adapter(self.cfg.adapter)
        self._encoder = encoder
        self.progress = progress
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._emb: np.ndarray | None = None
        self._faiss: Any = None
        self._queries: VectorCache | None = None
        #: documents this ranker encoded (0 when their embeddings came from the cache)
        self.docs_encoded = 0

    def config(self) -> dict[str, object]:
        out: dict[str, object] = {"name": self.name, **asdict(self.cfg)}
        if self._adapter is not None:
            out["adapter_fingerprint"] = self._adapter.file_fingerprint
        return out

    @property
    def doc_ids(self) -> list[str]:
        """The indexed document ids, in the order of :attr:`embeddings`' rows."""
        return list(self._ids)

    @property
    def embeddings(self) -> np.ndarray:
        """The cached document embeddings (read-only: adapters never change them)."""
        if self._emb is None:
            raise AptrankError(f"{self.name}: call .index(corpus) first")
        view = self._emb.view()
        view.flags.writeable = False
        return view

    @property
    def encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = load_encoder(self.cfg.model, self.backend(), self.cfg.max_length)
        return self._encoder

    def model_id(self) -> str:
        """The encoder's fingerprint (an injected encoder, in tests, names its own)."""
        return getattr(self._encoder, "fingerprint", None) or model_fingerprint(
            resolve_model(self.cfg.model)
        )

    def backend(self) -> str:
        """The configured backend, with ``auto`` resolved to its measured choice (embeddings
        are keyed, and Ray actors load their encoders, by the backend that computes them)."""
        if self.cfg.backend != "auto":
            return self.cfg.backend
        from aptrank.rankers.backends import resolve

        return resolve(self.cfg.model, "encoder", "auto", self.cfg.max_length)

    def _model_key(self) -> list[object]:
        return [self.cfg.model, self.model_id(), self.backend(), self.cfg.max_length]

    def _cache_folder(self, corpus: Corpus) -> Path:
        return cache_dir("embeddings", key(*self._model_key(), corpus_fingerprint(corpus)))

    def index(self, corpus: Corpus) -> DenseRanker:
        super().index(corpus)
        self._ids = sorted(corpus)
        self._pos = {d: i for i, d in enumerate(self._ids)}
        if self._adapter is not None:
            self._adapter.check_model(self.model_id(), self.cfg.adapter or "")
        folder = self._cache_folder(corpus)
        self._emb = self._load_or_encode(folder, corpus)
        if self._adapter is not None and self._emb.size:
            self._adapter.check_dim(self._emb.shape[1], self.cfg.adapter or "")
        self._faiss = None
        return self

    def _load_or_encode(self, folder: Path, corpus: Corpus) -> np.ndarray:
        full = folder / "embeddings.npy"
        if full.exists():
            logger.info("loaded document embeddings from %s", full)
            return np.load(full)
        # Chunks follow one global length order (longest first), so every batch the encoder
        # sees holds texts of similar length, as if the corpus were encoded in one call.
        texts = [corpus[d].full_text for d in self._ids]
        order = length_order([len(t) for t in texts])
        size, total = self.cfg.chunk_size, len(self._ids)
        chunks: dict[int, np.ndarray] = {}
        todo: list[tuple[int, list[str]]] = []
        for start in range(0, total, size):
            path = folder / f"lchunk-{start:09d}.npy"
            if path.exists():
                chunks[start] = np.load(path)
            else:
                todo.append((start, [texts[i] for i in order[start : start + size]]))
        done = total - sum(len(part) for _, part in todo)
        if self.progress and chunks:
            self.progress(done, total)
        # the chunks left go to the engine (this process, or Ray actors); only this process
        # writes them, so an interrupted run of either engine resumes from its written chunks
        batch = self.cfg.batch_size
        for (start, part), emb in map_batches(
            todo,
            local=lambda task: _encode_chunk(self.encoder, task, batch),
            remote=Remote(self._encoder_setup(), partial(_encode_chunk, batch=batch)),
            name=f"encoding the corpus with {self.name}",
        ):
            self.docs_encoded += len(part)
            _save_npy(folder / f"lchunk-{start:09d}.npy", emb)
            chunks[start] = emb
            done += len(part)
            if self.progress:
                self.progress(done, total)
        if not chunks:
            return np.zeros((0, 1), dtype=np.float32)
        emb = np.empty((total, chunks[0].shape[1]), dtype=np.float32)
        emb[order] = np.concatenate([chunks[start] for start in sorted(chunks)])
        _save_npy(full, emb)
        (folder / "meta.json").write_text(json.dumps({"config": self.config(), "docs": total}))
        for path in folder.glob("*chunk-*.npy"):
            path.unlink()
        return emb

    def _encoder_setup(self) -> Callable[[], TextEncoder]:
        """How a Ray actor gets this ranker's encoder: an injected one travels as it is, a
        model of ours is loaded again from its name."""
        given = self._encoder
        if given is not None and not type(given).__module__.startswith("aptrank."):
            return constant(given)
        return partial(load_encoder, self.cfg.model, self.backend(), self.cfg.max_length)

    def encode_queries(
        self, queries: Mapping[str, str], adapt: bool = True
    ) -> tuple[list[str], np.ndarray]:
        """Query ids and their embeddings: the prefixed texts encoded (or read from the query
        cache), then mapped by the adapter when there is one and ``adapt`` is true."""
        qids, q = self._encode_queries(queries)
        if adapt and self._adapter is not None:
            q = self._adapter.apply(q)
        return qids, q

    def embed_texts(self, texts: Sequence[str], query: bool = False) -> np.ndarray:
        """Embeddings of raw texts, without the on-disk caches (what a server needs): documents
        through the plain encoder; queries (``query=True``) with the query prefix and the
        adapter, as :meth:`rank` treats a query."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if not query:
            return self.encoder.encode(list(texts), batch_size=self.cfg.batch_size)
        q = self.encoder.encode(
            [self._query_text(t) for t in texts], batch_size=self.cfg.batch_size
        )
        if self._adapter is None:
            return q
        if not self._adapter_checked:
            self._adapter.check_model(self.model_id(), self.cfg.adapter or "")
            self._adapter_checked = True
        return self._adapter.apply(q)

    def _query_text(self, text: str) -> str:
        prefix = self.cfg.query_prefix
        if not prefix:
            return text
        return prefix + text if prefix[-1].isspace() else f"{prefix} {text}"

    def _encode_queries(self, queries: Mapping[str, str]) -> tuple[list[str], np.ndarray]:
        qids = list(queries)
        texts = [self._query_text(queries[q]) for q in qids]
        if not self.cfg.query_cache or not texts:
            return qids, self.encoder.encode(texts, batch_size=self.cfg.batch_size)
        if self._queries is None:
            name = f"queries-{key(*self._model_key())}.sqlite"
            self._queries = VectorCache(cache_dir("embeddings") / name)
        dim = self._emb.shape[1] if self._emb is not None and self._emb.size else None
        known = self._queries.vectors(texts, dim)
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo:
            fresh = self.encoder.encode(todo, batch_size=self.cfg.batch_size)
            self._queries.put_vectors(todo, fresh)
            known.update(zip(todo, np.asarray(fresh, dtype=np.float32)))
        return qids, np.stack([known[t] for t in texts]).astype(np.float32, copy=False)

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        if self._emb is None:
            raise AptrankError(f"{self.name}: call .index(corpus) before ranking")
        qids, q = self.encode_queries(queries)
        return self.search(qids, q, k)

    def search(self, qids: list[str], q: np.ndarray, k: int = 100) -> Run:
        """The top ``k`` documents of each query vector (row ``i`` of ``q`` is ``qids[i]``)."""
        if self._emb is None:
            raise AptrankError(f"{self.name}: call .index(corpus) before searching")
        k = min(k, len(self._ids))
        if self.cfg.search == "faiss":
            top, scores = self._faiss_search(q, k)
        else:
            top, scores = _exact_search(q, self._emb, k)
        return {
            qid: {self._ids[d]: float(s) for d, s in zip(top[i], scores[i])}
            for i, qid in enumerate(qids)
        }

    def _faiss_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            import faiss
        except ImportError:
            from aptrank.errors import MissingDependencyError

            raise MissingDependencyError("dense search=faiss", "faiss-cpu", "faiss") from None
        if self._faiss is None:
            self._faiss = faiss.IndexFlatIP(self._emb.shape[1])  # type: ignore[union-attr]
            self._faiss.add(self._emb)
        scores, top = self._faiss.search(np.ascontiguousarray(q), k)
        return top, scores

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        if self._emb is None:
            raise AptrankError(f"{self.name}: call .index(corpus) before reranking")
        qids, q = self.encode_queries({qid: queries[qid] for qid in candidates})
        run: Run = {}
        for i, qid in enumerate(qids):
            docs = [d for d in candidates[qid] if d in self._pos]
            sims = self._emb[[self._pos[d] for d in docs]] @ q[i] if docs else []
            run[qid] = {d: float(s) for d, s in zip(docs, sims)}
        return run


def _stage_name(cfg: DenseConfig) -> str:
    """``dense``, ``dense:<model>``, with the query-side options shown in brackets.

    >>> _stage_name(DenseConfig(query_prefix="query:", adapter="a.npz"))
    'dense[query_prefix=query:,adapter=a.npz]'
    """
    name = "dense" if cfg.model == DEFAULT_EMBEDDING else f"dense:{cfg.model}"
    shown = [f"query_prefix={cfg.query_prefix}"] if cfg.query_prefix else []
    shown += [f"adapter={cfg.adapter}"] if cfg.adapter else []
    return f"{name}[{','.join(shown)}]" if shown else name


def _exact_search(
    q: np.ndarray, emb: np.ndarray, k: int, block: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by inner product, in blocks of queries to bound memory."""
    tops, scores = [], []
    for start in range(0, len(q), block):
        sims = q[start : start + block] @ emb.T
        part = (
            np.argpartition(-sims, k - 1, axis=1)[:, :k]
            if k < sims.shape[1]
            else np.tile(np.arange(sims.shape[1]), (len(sims), 1))
        )
        part_scores = np.take_along_axis(sims, part, axis=1)
        tops.append(part)
        scores.append(part_scores)
    if not tops:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
    return np.concatenate(tops), np.concatenate(scores)


def _encode_chunk(encoder: TextEncoder, task: tuple[int, list[str]], batch: int) -> np.ndarray:
    """One chunk's embeddings, here or on a Ray actor (``task``: its start and texts)."""
    return encoder.encode(task[1], batch_size=batch)


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    tmp.replace(path)
