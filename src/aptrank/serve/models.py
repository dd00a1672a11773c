"""What is served: one :class:`ServedModel` per ``--pipeline``, its name and its endpoints.

A pipeline that is a trained ranker's folder (an ``aptrank.json`` inside) is named by the
folder's name, any other by the pipeline string itself. Which endpoints a model offers follows
from its stages: ``rerank`` when it scores raw texts (cross-encoders, bi-encoders and ``fuse``,
``rrf``, ``A>>B@k`` of those), ``embeddings`` when it is a bi-encoder, ``search`` when a corpus is
served and the pipeline retrieves (any retrieving pipeline, BM25 included).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError
from aptrank.rankers.backends import check_backend
from aptrank.rankers.base import Ranker
from aptrank.rankers.dense import DenseRanker
from aptrank.serve.scoring import bi_encoder, score_meaning, score_texts, text_scoring_problem
from aptrank.types import Corpus

logger = logging.getLogger(__name__)

ENDPOINTS = ("rerank", "search", "embeddings")


@dataclass
class ServedModel:
    """A ranker under a name, with the endpoints it offers."""

    name: str
    pipeline: str
    ranker: Ranker
    search: bool = False  #: a corpus is served and the pipeline retrieves from it
    rerank_problem: str | None = None  #: why it cannot rerank raw texts (None: it can)
    #: identifies the served model and its weights (set by :meth:`load`)
    fingerprint: str = ""
    score: str = ""  #: what ``relevance_score`` / ``score`` mean for this model
    loaded: bool = field(default=False, repr=False)

    @property
    def rerank(self) -> bool:
        return self.rerank_problem is None

    @property
    def embedder(self) -> DenseRanker | None:
        return bi_encoder(self.ranker)

    @property
    def endpoints(self) -> list[str]:
        offered = {"rerank": self.rerank, "search": self.search, "embeddings": bool(self.embedder)}
        return [e for e in ENDPOINTS if offered[e]]

    def describe(self) -> dict[str, Any]:
        """The ``/v1/models`` entry (OpenAI's model object, plus what aptrank knows)."""
        return {
            "id": self.name,
            "object": "model",
            "owned_by": "aptrank",
            "pipeline": self.pipeline,
            "endpoints": self.endpoints,
            "score": self.score,
            "fingerprint": self.fingerprint,
        }

    def load(self, corpus: Corpus | None) -> None:
        """Load the weights (one tiny call per endpoint) and index the corpus for search, so the
        first request is not the slow one. Runs on the worker thread."""
        if self.search and corpus is not None:
            self.ranker.index(corpus)
            self.ranker.rank({"warm-up": "warm up"}, 1)
        if self.rerank:
            score_texts(self.ranker, ["warm up"], [["warm up"]])
        if self.embedder is not None:
            self.embedder.embed_texts(["warm up"], query=True)
        self.fingerprint = fingerprint(self.ranker)
        self.loaded = True


def model_name(pipeline: str) -> str:
    """A trained ranker's folder name, or the pipeline string itself.

    >>> model_name("bm25>>dense@30")
    'bm25>>dense@30'
    """
    from aptrank.rankers.artifact import is_artifact

    path = Path(pipeline.strip())
    return path.resolve().name if is_artifact(path) else pipeline.strip()


def served_models(
    pipelines: Sequence[str | tuple[str, Ranker]], corpus: bool = False, backend: str | None = None
) -> list[ServedModel]:
    """One :class:`ServedModel` per pipeline string (or ``(name, ranker)`` built elsewhere), in
    order; raises when two share a name or one offers no endpoint. ``backend`` (e.g. ``auto``)
    replaces the default ``torch`` of every bi- and cross-encoder stage (:func:`use_backend`)."""
    from aptrank.rankers import build_ranker

    if backend is not None:
        check_backend(backend)
    if not pipelines:
        raise AptrankError("serve: give at least one --pipeline")
    models: list[ServedModel] = []
    for item in pipelines:
        if isinstance(item, str):
            name, ranker = model_name(item), build_ranker(item)
        else:
            name, ranker = item
        if backend is not None:
            use_backend(ranker, backend)
        model = ServedModel(
            name=name,
            pipeline=item if isinstance(item, str) else ranker.name,
            ranker=ranker,
            search=corpus and ranker.retrieves,
            rerank_problem=text_scoring_problem(ranker),
            score=score_meaning(ranker),
        )
        if any(m.name == name for m in models):
            raise AptrankError(f"serve: two pipelines are named {name!r}")
        if not model.endpoints:
            hint = "give --corpus to serve it through /v1/search" if ranker.retrieves else ""
            raise AptrankError(
                f"serve: {name!r} offers no endpoint: {model.rerank_problem}"
                + (f"; {hint}" if hint else " and it does not retrieve")
            )
        no_query_cache(ranker)
        models.append(model)
    return models


def use_backend(ranker: Ranker, backend: str) -> None:
    """Put every bi- and cross-encoder stage still on the default ``torch`` backend, trained
    folders' stages included, on ``backend``; a stage that names another keeps it. Before the
    models load (they load lazily)."""
    from aptrank.experiment import walk
    from aptrank.rankers.cross_encoder import CrossEncoderRanker

    for stage in walk(ranker):
        if isinstance(stage, (DenseRanker, CrossEncoderRanker)) and stage.cfg.backend == "torch":
            stage.cfg = dataclasses.replace(stage.cfg, backend=backend)


def no_query_cache(ranker: Ranker) -> None:
    """A served bi-encoder keeps no query embeddings on disk (every user query would be kept)."""
    from aptrank.experiment import walk

    for stage in walk(ranker):
        if isinstance(stage, DenseRanker) and stage.cfg.query_cache:
            stage.cfg = dataclasses.replace(stage.cfg, query_cache=False)


def fingerprint(ranker: Ranker) -> str:
    """12 hex digits over the ranker's config and the fingerprints of its local model files: a
    teacher's labels from a served model are keyed on it (another model, another key)."""
    from aptrank.experiment import walk
    from aptrank.rankers.cache import model_fingerprint

    parts: list[Any] = [ranker.config()]
    for stage in walk(ranker):
        model = getattr(getattr(stage, "cfg", None), "model", None)
        if isinstance(model, str) and Path(model).exists():
            parts.append(model_fingerprint(model))
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]
